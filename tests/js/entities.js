// The official OpenWhisk JS client (openwhisk on npm) on packages, bindings, triggers, rules and web actions.
// Reads __OW_API_HOST / __OW_API_KEY from the environment (never argv); prints one JSON object.
'use strict'
const openwhisk = require('openwhisk')

async function main () {
  const ow = openwhisk({ apihost: process.env.__OW_API_HOST, api_key: process.env.__OW_API_KEY })
  const echo = 'def main(args):\n    return {k: v for k, v in args.items() if not k.startswith("__ow_headers")}\n'
  const out = {}
  out.pkg = await ow.packages.create({ name: 'jspkg', package: { parameters: [{ key: 'from', value: 'package' }] } })
  out.action = await ow.actions.create({ name: 'jspkg/echo', action: echo, kind: 'python:default', overwrite: true })
  out.binding = await ow.packages.create({
    name: 'jsbind',
    package: { binding: { namespace: '_', name: 'jspkg' }, parameters: [{ key: 'from', value: 'binding' }] }
  })
  out.viaPackage = await ow.actions.invoke({ name: 'jspkg/echo', blocking: true, result: true, params: { x: 1 } })
  out.viaBinding = await ow.actions.invoke({ name: 'jsbind/echo', blocking: true, result: true })
  out.pkgGet = await ow.packages.get({ name: 'jspkg' })
  out.packages = (await ow.packages.list()).map(p => p.name)

  out.trigger = await ow.triggers.create({ name: 'jstrigger', trigger: { parameters: [{ key: 't', value: 1 }] } })
  out.rule = await ow.rules.create({ name: 'jsrule', action: 'jspkg/echo', trigger: 'jstrigger' })
  out.fired = await ow.triggers.invoke({ name: 'jstrigger', params: { fired: true } })
  out.ruleGet = await ow.rules.get({ name: 'jsrule' })
  await ow.rules.disable({ name: 'jsrule' })
  out.ruleDisabled = (await ow.rules.get({ name: 'jsrule' })).status
  await ow.rules.enable({ name: 'jsrule' })
  out.ruleEnabled = (await ow.rules.get({ name: 'jsrule' })).status
  out.rules = (await ow.rules.list()).map(r => r.name)
  out.triggers = (await ow.triggers.list()).map(t => t.name)

  out.web = await ow.actions.create({
    name: 'jsweb',
    action: 'def main(args):\n    return {"body": {"method": args["__ow_method"], "q": args.get("q")}}\n',
    kind: 'python:default',
    annotations: { 'web-export': true },
    overwrite: true
  })
  const url = `${process.env.__OW_API_HOST}/api/v1/web/guest/default/jsweb.json?q=7`
  const response = await fetch(url)
  out.webStatus = response.status
  out.webBody = await response.json()
  out.webActivation = response.headers.get('x-openwhisk-activation-id')

  out.ruleDeleted = await ow.rules.delete({ name: 'jsrule' })
  out.triggerDeleted = await ow.triggers.delete({ name: 'jstrigger' })
  await ow.actions.delete({ name: 'jspkg/echo' })
  await ow.packages.delete({ name: 'jsbind' })
  out.pkgDeleted = await ow.packages.delete({ name: 'jspkg' })
  console.log(JSON.stringify(out))
}

main().catch(err => {
  console.log(JSON.stringify({ fatal: String(err && err.message), statusCode: err && err.statusCode, error: err && err.error }))
  process.exit(1)
})
