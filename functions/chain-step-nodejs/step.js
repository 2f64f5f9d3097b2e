// One step of the long function chain (ServerlessBench Testcase3 "array sum", sequence form), Node.js twin
// of chain-step-python: adds 1 to `n` and appends this step's start and return timestamps (epoch ms).
// `fib` (default 0) adds a small CPU load (iterative Fibonacci of that index, digits counted with BigInt).
function fibDigits(k) {
  let a = 0n;
  let b = 1n;
  for (let i = 0; i < k; i++) [a, b] = [b, a + b];
  return a.toString().length;
}

function main(params) {
  const start = Date.now();
  const n = params.n === undefined ? 0 : params.n;
  const fib = params.fib === undefined ? 0 : params.fib;
  if (!Number.isInteger(n)) {
    return { error: `parameter 'n' is ${JSON.stringify(n)}; use an integer (the chain adds 1 per step), e.g. 0` };
  }
  if (!Number.isInteger(fib) || fib < 0 || fib > 100000) {
    return { error: `parameter 'fib' is ${JSON.stringify(fib)}; use an integer from 0 to 100000 (0 = no CPU load)` };
  }
  const result = { n: n + 1, fib };
  if (fib) result.fibDigits = fibDigits(fib);
  result.startTimes = [...(params.startTimes || []), start];
  result.retTimes = [...(params.retTimes || []), Date.now()];
  return result;
}

exports.main = main;
