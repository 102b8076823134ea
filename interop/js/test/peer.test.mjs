// js-only checks of peer.mjs (the C# tests in tests/Bethrou.Interop.Tests/JsHarnessTests.cs cover the same ground).
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import net from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, test } from 'node:test'
import { startPeer } from './driver.mjs'

const dir = mkdtempSync(join(tmpdir(), 'bethrou-js-'))
const psk = join(dir, 'swarm.key')
writeFileSync(psk, '/key/swarm/psk/1.0.0/\n/base16/\n' + randomBytes(32).toString('hex') + '\n')
let a, b

before(async () => {
  a = await startPeer(['--psk', psk])
  b = await startPeer(['--psk', psk, '--go-bethrou-exit'])
})

after(async () => {
  await a?.stop()
  await b?.stop()
  rmSync(dir, { recursive: true, force: true })
})

test('dial, ping, identify', async () => {
  const dial = await a.send({ cmd: 'dial', addr: b.addrs[0] })
  assert.equal(dial.ok, true, dial.error)
  assert.equal(dial.peerId, b.peerId)
  const ping = await a.send({ cmd: 'ping', peer: b.peerId, count: 2 })
  assert.equal(ping.ok, true, ping.error)
  assert.equal(ping.rtts.length, 2)
  const id = await a.send({ cmd: 'identify', peer: b.peerId })
  assert.equal(id.ok, true, id.error)
  assert.equal(id.publicKeyMatchesPeerId, true)
  assert.ok(id.protocols.includes('/bethrou/proxy/1.0.0'))
})

test('echo 4 streams x 2 MiB', async () => {
  const echo = await a.send({ cmd: 'echo', peer: b.peerId, bytes: 2 * 1024 * 1024, streams: 4 })
  assert.equal(echo.ok, true, echo.error)
  for (const s of echo.streams) assert.equal(s.sha256Sent, s.sha256Received)
})

test('go proxy client and exit', async () => {
  const origin = net.createServer({ allowHalfOpen: true }, (s) => {
    const chunks = []
    s.on('data', (d) => chunks.push(d))
    s.on('end', () => s.end(Buffer.concat([Buffer.from('re:'), ...chunks])))
  })
  await new Promise((resolve) => origin.listen(0, '127.0.0.1', resolve))
  try {
    const address = `127.0.0.1:${origin.address().port}`
    for (const lazy of [true, false]) {
      const r = await a.send({ cmd: 'proxy', peer: b.peerId, address, send: Buffer.from('abc').toString('base64'), lazy })
      assert.equal(r.ok, true, r.error)
      assert.equal(r.status, 'ok')
      assert.equal(Buffer.from(r.response, 'base64').toString(), 're:abc')
    }
  } finally {
    origin.close()
  }
})
