// Primes microbenchmark: count the primes below `n` with a sieve of Eratosthenes.
const MAX_N = 50000000;

function countPrimes(n) {
  if (n < 3) return 0;
  const composite = new Uint8Array(n);
  let count = 0;
  for (let p = 2; p < n; p++) {
    if (composite[p]) continue;
    count++;
    for (let m = p * p; m < n; m += p) composite[m] = 1;
  }
  return count;
}

function main(params) {
  const n = params.n === undefined ? 100000 : params.n;
  if (!Number.isInteger(n) || n < 0 || n > MAX_N) {
    return { error: `parameter 'n' is ${JSON.stringify(n)}; use an integer from 0 to ${MAX_N}, e.g. 100000` };
  }
  return { n, count: countPrimes(n) };
}

exports.main = main;
