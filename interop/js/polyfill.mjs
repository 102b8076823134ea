// libp2p 3.x calls Promise.withResolvers(), which Node 20 lacks. This module must be
// imported before anything from libp2p (ES module imports are evaluated in order).
if (typeof Promise.withResolvers !== 'function') {
  Object.defineProperty(Promise, 'withResolvers', {
    configurable: true,
    writable: true,
    value: function withResolvers () {
      let resolve
      let reject
      const promise = new this((res, rej) => {
        resolve = res
        reject = rej
      })
      return { promise, resolve, reject }
    }
  })
}
