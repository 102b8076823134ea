// js<->js echo throughput over loopback: node bench/echo.mjs [--mib 64] [--streams 1] [--runs 3] [--no-pnet] [peer options...]
// Starts two peers (same random PSK unless --no-pnet), dials, runs the echo command and prints MB/s of payload.
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { startPeer } from '../test/driver.mjs'

const { values, positionals } = parseArgs({
  options: {
    mib: { type: 'string', default: '64' },
    streams: { type: 'string', default: '1' },
    runs: { type: 'string', default: '3' },
    'no-pnet': { type: 'boolean', default: false }
  },
  allowPositionals: true,
  strict: false
})
const dir = mkdtempSync(join(tmpdir(), 'bethrou-bench-'))
const args = [...positionals]
if (!values['no-pnet']) {
  const psk = join(dir, 'swarm.key')
  writeFileSync(psk, '/key/swarm/psk/1.0.0/\n/base16/\n' + randomBytes(32).toString('hex') + '\n')
  args.push('--psk', psk)
}
// bulk transfers: js's connection monitor would abort a connection whose ping waits behind the data
args.push('--no-connection-monitor')
const a = await startPeer(args)
const b = await startPeer(args)
try {
  const dial = await a.send({ cmd: 'dial', addr: b.addrs[0] })
  if (!dial.ok) throw new Error(dial.error)
  const bytes = Number(values.mib) * 1024 * 1024
  for (let i = 0; i < Number(values.runs); i++) {
    const r = await a.send({ cmd: 'echo', peer: b.peerId, bytes, streams: Number(values.streams), seed: i, timeoutMs: 600_000 })
    console.log(`${values['no-pnet'] ? 'tcp+noise+yamux' : 'tcp+pnet+noise+yamux'} ${values.streams} x ${values.mib} MiB: ` +
      (r.ok ? `${r.ms.toFixed(0)} ms, ${r.MBps.toFixed(1)} MB/s payload (each byte goes both ways)` : `FAILED ${r.error}`) +
      ` [load ${loadavg()[0].toFixed(1)}]`)
  }
} finally {
  await a.stop()
  await b.stop()
  rmSync(dir, { recursive: true, force: true })
}
