// Minimal driver for peer.mjs used by the node tests (the C# driver is JsPeer.cs).
import { spawn } from 'node:child_process'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'

const peerPath = fileURLToPath(new URL('../peer.mjs', import.meta.url))

export async function startPeer (args = []) {
  const child = spawn(process.execPath, [peerPath, ...args], { stdio: ['pipe', 'pipe', 'pipe'] })
  let stderr = ''
  child.stderr.on('data', (d) => { stderr += d.toString() })
  const events = []
  const eventWaiters = []
  const pending = new Map()
  let nextId = 1
  let readyResolve, readyReject
  const ready = new Promise((resolve, reject) => { readyResolve = resolve; readyReject = reject })
  child.on('exit', (code) => {
    readyReject(new Error(`peer exited with ${code}: ${stderr}`))
    for (const p of pending.values()) p.reject(new Error(`peer exited with ${code}`))
  })
  createInterface({ input: child.stdout }).on('line', (line) => {
    const msg = JSON.parse(line)
    if (msg.event === 'ready') readyResolve(msg)
    if (msg.event != null) {
      events.push(msg)
      for (const w of [...eventWaiters]) {
        if (w.pred(msg)) { eventWaiters.splice(eventWaiters.indexOf(w), 1); w.resolve(msg) }
      }
      return
    }
    const p = pending.get(msg.id)
    if (p) { pending.delete(msg.id); p.resolve(msg) }
  })
  const info = await ready
  return {
    ...info,
    child,
    get stderr () { return stderr },
    events,
    send (cmd) {
      const id = nextId++
      return new Promise((resolve, reject) => {
        pending.set(id, { resolve, reject })
        child.stdin.write(JSON.stringify({ ...cmd, id }) + '\n')
      })
    },
    waitEvent (pred, timeoutMs = 10_000) {
      const found = events.find(pred)
      if (found) return Promise.resolve(found)
      return new Promise((resolve, reject) => {
        const w = { pred, resolve }
        eventWaiters.push(w)
        setTimeout(() => reject(new Error('event timeout')), timeoutMs).unref()
      })
    },
    async stop () {
      const exited = new Promise((resolve) => child.once('exit', resolve))
      child.stdin.write(JSON.stringify({ cmd: 'stop', id: 0 }) + '\n')
      const t = setTimeout(() => child.kill('SIGKILL'), 5_000)
      await exited
      clearTimeout(t)
    }
  }
}
