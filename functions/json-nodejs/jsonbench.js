// JSON microbenchmark: generate a document of `items` records, serialise and parse it `rounds` times.
// The document is deterministic and identical to the Python twin's, so both return the same bytes and sums.
const MAX_ITEMS = 200000;
const MAX_ROUNDS = 1000;

function bad(name, value, allowed) {
  return { error: `parameter '${name}' is ${JSON.stringify(value)}; ${allowed}` };
}

function makeDocument(items) {
  const coordinates = [];
  for (let i = 0; i < items; i++) {
    coordinates.push({
      id: i, name: `item-${i}`, x: (i * 37) % 1000, y: (i * 91) % 1000, z: (i * 13) % 1000,
      tags: [`t${i % 7}`, `t${i % 11}`],
    });
  }
  return { coordinates };
}

function main(params) {
  const items = params.items === undefined ? 1000 : params.items;
  const rounds = params.rounds === undefined ? 1 : params.rounds;
  if (!Number.isInteger(items) || items < 0 || items > MAX_ITEMS) {
    return bad('items', items, `use an integer from 0 to ${MAX_ITEMS}`);
  }
  if (!Number.isInteger(rounds) || rounds < 1 || rounds > MAX_ROUNDS) {
    return bad('rounds', rounds, `use an integer from 1 to ${MAX_ROUNDS}`);
  }
  const document = makeDocument(items);
  let text = '';
  let parsed = { coordinates: [] };
  for (let r = 0; r < rounds; r++) {
    text = JSON.stringify(document);
    parsed = JSON.parse(text);
  }
  const sums = { x: 0, y: 0, z: 0 };
  for (const c of parsed.coordinates) {
    sums.x += c.x;
    sums.y += c.y;
    sums.z += c.z;
  }
  return { items: parsed.coordinates.length, bytes: Buffer.byteLength(text, 'utf8'), rounds, sums };
}

exports.main = main;
