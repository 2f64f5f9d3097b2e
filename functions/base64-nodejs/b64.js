// base64 microbenchmark: encode then decode a text `rounds` times and return the decoded string.
const MAX_BYTES = 512 * 1024; // the decoded string is returned, so stay well under the 1 MB result limit
const MAX_ROUNDS = 100000;

function bad(name, value, allowed) {
  return { error: `parameter '${name}' is ${JSON.stringify(value)}; ${allowed}` };
}

function main(params) {
  const text = params.text === undefined ? 'Hello, OpenWhisk!' : params.text;
  const repeat = params.repeat === undefined ? 1 : params.repeat;
  const rounds = params.rounds === undefined ? 1 : params.rounds;
  if (typeof text !== 'string') return bad('text', text, 'use a string');
  if (!Number.isInteger(repeat) || repeat < 1) return bad('repeat', repeat, 'use an integer >= 1');
  if (!Number.isInteger(rounds) || rounds < 1 || rounds > MAX_ROUNDS) {
    return bad('rounds', rounds, `use an integer from 1 to ${MAX_ROUNDS}`);
  }
  const payload = Buffer.from(text.repeat(repeat), 'utf8');
  if (payload.length > MAX_BYTES) {
    return bad('text', `<${payload.length} bytes after repeat>`, `keep text * repeat under ${MAX_BYTES} bytes`);
  }
  let encoded = '';
  let decoded = payload;
  for (let i = 0; i < rounds; i++) {
    encoded = payload.toString('base64');
    decoded = Buffer.from(encoded, 'base64');
  }
  return { decoded: decoded.toString('utf8'), length: payload.length, encoded_length: encoded.length, rounds };
}

exports.main = main;
