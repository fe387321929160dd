// Child process of the bench: a loopback PLC directory + PDS serving pre-generated repo CARs
// (kept apart so that its memory does not count in the backfiller's peak RSS).
// argv[2]: directory with index.json ({ did: { file, signingKey } }). Prints its URL.
import { readFileSync } from 'node:fs'
import { createServer } from 'node:http'
import { join } from 'node:path'

const dir = process.argv[2]
const index = JSON.parse(readFileSync(join(dir, 'index.json'), 'utf8'))
const cars = new Map(Object.entries(index).map(([did, v]) => [did, readFileSync(join(dir, v.file))]))
let url = ''
const server = createServer((req, res) => {
  const u = new URL(req.url ?? '/', url)
  if (u.pathname === '/xrpc/com.atproto.sync.getRepo') {
    const car = cars.get(u.searchParams.get('did') ?? '')
    if (!car) return void res.writeHead(400, { 'content-type': 'application/json' }).end('{"error":"RepoNotFound"}')
    res.writeHead(200, { 'content-type': 'application/vnd.ipld.car', 'content-length': car.length })
    res.end(car)
    return
  }
  const did = decodeURIComponent(u.pathname.slice(1))
  const entry = index[did]
  if (!entry) return void res.writeHead(404).end()
  res.writeHead(200, { 'content-type': 'application/json' })
  res.end(
    JSON.stringify({
      '@context': ['https://www.w3.org/ns/did/v1'],
      id: did,
      alsoKnownAs: [],
      verificationMethod: [
        { id: `${did}#atproto`, type: 'Multikey', controller: did, publicKeyMultibase: entry.signingKey.replace('did:key:', '') },
      ],
      service: [{ id: '#atproto_pds', type: 'AtprotoPersonalDataServer', serviceEndpoint: url }],
    }),
  )
})
server.listen(0, '127.0.0.1', () => {
  url = `http://127.0.0.1:${server.address().port}`
  console.log(url)
})
process.on('SIGTERM', () => process.exit(0))
