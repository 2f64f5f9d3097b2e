// The official OpenWhisk JS client (openwhisk on npm) against the embedded server.
// Reads __OW_API_HOST / __OW_API_KEY from the environment (never argv); prints one JSON object.
'use strict'
const openwhisk = require('openwhisk')

async function main () {
  const ow = openwhisk({ apihost: process.env.__OW_API_HOST, api_key: process.env.__OW_API_KEY })
  const name = 'js-client-hello'
  const code = "def main(args):\n    print('hello from', args.get('who'))\n    return {'greeting': 'hi ' + args.get('who', '?')}\n"
  const out = {}
  out.created = await ow.actions.create({ name, action: code, kind: 'python:default', overwrite: true })
  out.result = await ow.actions.invoke({ name, blocking: true, result: true, params: { who: 'node' } })
  const full = await ow.actions.invoke({ name, blocking: true, params: { who: 'again' } })
  out.invoked = full
  out.activation = await ow.activations.get({ name: full.activationId })
  out.logs = await ow.activations.logs({ name: full.activationId })
  out.activationResult = await ow.activations.result({ name: full.activationId })
  out.listed = await ow.activations.list({ name, limit: 5 })
  out.count = await ow.activations.list({ count: true })
  out.actions = await ow.actions.list()
  try {
    await ow.actions.invoke({ name: 'js-client-missing', blocking: true })
    out.missing = 'no error'
  } catch (err) {
    out.missing = { statusCode: err.statusCode, message: err.message }
  }
  out.deleted = await ow.actions.delete({ name })
  out.afterDelete = (await ow.actions.list()).map(a => a.name)
  console.log(JSON.stringify(out))
}

main().catch(err => {
  console.log(JSON.stringify({ fatal: String(err && err.message), statusCode: err && err.statusCode }))
  process.exit(1)
})
