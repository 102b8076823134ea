// Wraps @libp2p/pnet so each XSalsa20 call sees at most 64 KiB.
//
// Why: @libp2p/pnet encrypts its whole send queue in one xsalsa20 update(), and the xsalsa20 package
// grows its shared WebAssembly memory relative to each instance's possibly stale view of it, so
// alternating large updates keep growing the memory until "WebAssembly.Memory.grow(): Maximum memory
// size exceeded" kills the connection (libp2p-wire.md §17; seen here with 64 MiB echoes). Splitting
// the update does not change a single byte on the wire: the keystream is continuous.
import { preSharedKey } from '@libp2p/pnet'
import { pieces } from './streams.mjs'

const MAX_XOR = 64 * 1024

export function chunkedPreSharedKey (init) {
  const factory = preSharedKey(init)
  return (components) => {
    const inner = factory(components)
    return {
      [Symbol.toStringTag]: '@libp2p/pnet(chunked)',
      async protect (connection, options) {
        const box = await inner.protect(connection, options)
        if (typeof box.sendData !== 'function' || box.maConn == null || box.outboundXor == null) {
          throw new Error('unexpected @libp2p/pnet internals: cannot apply the bounded-update workaround (run with --no-pnet-chunking)')
        }
        box.sendData = function sendData (data) {
          let canSendMore = true
          for (const buf of pieces(data)) {
            for (let off = 0; off < buf.byteLength; off += MAX_XOR) {
              canSendMore = this.maConn.send(this.outboundXor.update(buf.subarray(off, Math.min(off + MAX_XOR, buf.byteLength))))
            }
          }
          return { sentBytes: data.byteLength, canSendMore }
        }
        return box
      }
    }
  }
}
