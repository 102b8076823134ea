// /ipfs/ping/1.0.0 client on a given connection (js's ping service picks its own connection).
import { randomBytes } from 'node:crypto'
import { StreamReader } from './reader.mjs'

export const PING_PROTOCOL = '/ipfs/ping/1.0.0'
const PING_LENGTH = 32

/**
 * Pings `count` times and returns RTTs in ms (high resolution). Like js, one stream per ping;
 * with sameStream (go's client style) all pings share one stream, then it half-closes.
 */
export async function pingConnection (connection, { count, sameStream = false, signal }) {
  const rtts = []
  let stream
  let reader
  const open = async () => {
    stream = await connection.newStream(PING_PROTOCOL, { signal, runOnLimitedConnection: true })
    reader = new StreamReader(stream, 1024)
  }
  try {
    for (let i = 0; i < count; i++) {
      if (stream == null) await open()
      const data = randomBytes(PING_LENGTH)
      const t0 = performance.now()
      stream.send(data)
      const pong = await reader.readExactly(PING_LENGTH, signal)
      const rtt = performance.now() - t0
      if (!pong.equals(data)) throw new Error(`ping ${i}: echoed bytes differ from the 32 bytes sent`)
      rtts.push(rtt)
      if (!sameStream) {
        await stream.close({ signal })
        reader.detach()
        stream = undefined
      }
    }
    if (stream != null) {
      await stream.close({ signal })
      // the responder finishes echoing and closes after our half-close
      await reader.readToEnd(signal)
    }
  } catch (err) {
    stream?.abort(err instanceof Error ? err : new Error(String(err)))
    throw err
  } finally {
    reader?.detach()
  }
  return rtts
}
