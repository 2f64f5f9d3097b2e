# Primes microbenchmark (Ruby twin of primes-python): count the primes below n (sieve of Eratosthenes).
MAX_N = 50_000_000

def count_primes(n)
  return 0 if n < 3

  sieve = Array.new(n, true)
  sieve[0] = sieve[1] = false
  p = 2
  while p * p < n
    (p * p).step(n - 1, p) { |i| sieve[i] = false } if sieve[p]
    p += 1
  end
  sieve.count(true)
end

def main(args)
  n = args.fetch('n', 100_000)
  unless n.is_a?(Integer) && n.between?(0, MAX_N)
    return { 'error' => "parameter 'n' is #{n.inspect}; use an integer from 0 to #{MAX_N}, e.g. 100000" }
  end

  { 'n' => n, 'count' => count_primes(n) }
end
