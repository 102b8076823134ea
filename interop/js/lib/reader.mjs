// Pull-style reader over a js-libp2p v3 message stream (which pushes 'message' events).
import { pieces } from './streams.mjs'

export class StreamReader {
  #stream
  #chunks = []
  #buffered = 0
  #ended = false
  #error = null
  #waiter = null
  #maxBuffered
  #listeners

  constructor (stream, maxBuffered = 64 * 1024 * 1024) {
    this.#stream = stream
    this.#maxBuffered = maxBuffered
    const onMessage = (evt) => {
      for (const buf of pieces(evt.data)) {
        this.#chunks.push(Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength))
        this.#buffered += buf.byteLength
      }
      if (this.#buffered > this.#maxBuffered) {
        this.#fail(new Error(`more than ${this.#maxBuffered} unread bytes`))
        stream.abort(this.#error)
      }
      this.#wake()
    }
    const onEnd = () => { this.#ended = true; this.#wake() }
    const onClose = (evt) => {
      if (evt.error != null) this.#fail(evt.error)
      else { this.#ended = true; this.#wake() }
    }
    stream.addEventListener('message', onMessage)
    stream.addEventListener('end', onEnd)
    stream.addEventListener('close', onClose)
    this.#listeners = { onMessage, onEnd, onClose }
    if (stream.readableEnded) this.#ended = true
  }

  /** True once the remote half-closed (or the stream closed cleanly). */
  get ended () { return this.#ended }

  #fail (err) {
    if (this.#error == null) this.#error = err
    this.#wake()
  }

  #wake () {
    const w = this.#waiter
    this.#waiter = null
    w?.()
  }

  async #waitMore (signal) {
    if (this.#error != null) throw this.#error
    if (this.#ended) return false
    await new Promise((resolve, reject) => {
      const onAbort = () => reject(signal.reason ?? new Error('aborted'))
      if (signal?.aborted) { onAbort(); return }
      signal?.addEventListener('abort', onAbort, { once: true })
      this.#waiter = () => { signal?.removeEventListener('abort', onAbort); resolve() }
    })
    if (this.#error != null) throw this.#error
    return true
  }

  #peek () {
    if (this.#chunks.length > 1) this.#chunks = [Buffer.concat(this.#chunks, this.#buffered)]
    return this.#chunks[0] ?? Buffer.alloc(0)
  }

  #take (n) {
    const all = this.#peek()
    const head = all.subarray(0, n)
    const rest = all.subarray(n)
    this.#chunks = rest.byteLength > 0 ? [rest] : []
    this.#buffered = rest.byteLength
    return Buffer.from(head)
  }

  /** Reads up to and including the next '\n'; returns the line without it. */
  async readLine (maxLength, signal) {
    for (;;) {
      const all = this.#peek()
      const nl = all.indexOf(0x0a)
      if (nl >= 0) {
        if (nl > maxLength) throw new Error(`line longer than ${maxLength} bytes`)
        const line = this.#take(nl + 1)
        return line.subarray(0, nl)
      }
      if (all.byteLength > maxLength) throw new Error(`line longer than ${maxLength} bytes`)
      if (!await this.#waitMore(signal)) {
        throw new Error(`stream ended after ${all.byteLength} bytes without a newline`)
      }
    }
  }

  /** Reads one uvarint-length-prefixed message. */
  async readLengthPrefixed (maxLength, signal) {
    for (;;) {
      const all = this.#peek()
      let len = 0
      let shift = 0
      let i = 0
      let complete = false
      for (; i < all.byteLength && i < 9; i++) {
        len += (all[i] & 0x7f) * 2 ** shift
        shift += 7
        if ((all[i] & 0x80) === 0) { complete = true; i++; break }
      }
      if (complete) {
        if (len > maxLength) throw new Error(`length prefix ${len} exceeds ${maxLength}`)
        if (all.byteLength >= i + len) {
          this.#take(i)
          return this.#take(len)
        }
      }
      if (!await this.#waitMore(signal)) {
        throw new Error(`stream ended inside a length-prefixed message (${all.byteLength} bytes buffered)`)
      }
    }
  }

  /** Reads exactly n bytes. */
  async readExactly (n, signal) {
    while (this.#buffered < n) {
      if (!await this.#waitMore(signal)) {
        throw new Error(`stream ended after ${this.#buffered} of ${n} bytes`)
      }
    }
    return this.#take(n)
  }

  /** Reads everything until the remote half-closes. */
  async readToEnd (signal) {
    while (await this.#waitMore(signal)) { /* accumulate */ }
    return this.#take(this.#buffered)
  }

  /** Takes whatever is buffered now. */
  takeBuffered () {
    return this.#take(this.#buffered)
  }

  detach () {
    const { onMessage, onEnd, onClose } = this.#listeners
    this.#stream.removeEventListener('message', onMessage)
    this.#stream.removeEventListener('end', onEnd)
    this.#stream.removeEventListener('close', onClose)
  }
}
