// Process harness for interop tests: start a peer, collect its JSON events, wait
// for one with a deadline, stop it by PID.
import { spawn } from 'node:child_process'
import { createInterface } from 'node:readline'

const children = new Set()

export function killAll () {
  for (const c of children) { try { process.kill(c.pid, 'SIGKILL') } catch {} }
}

export function start (cmd, args, env = {}) {
  const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'inherit'], env: { ...process.env, ...env } })
  children.add(child)
  const events = []
  const waiters = []
  createInterface({ input: child.stdout }).on('line', (line) => {
    let ev
    try { ev = JSON.parse(line) } catch { return }
    events.push(ev)
    for (const w of [...waiters]) if (w.pred(ev)) { waiters.splice(waiters.indexOf(w), 1); w.resolve(ev) }
  })
  const exited = new Promise((resolve) => child.on('exit', (code) => { children.delete(child); resolve(code) }))
  const waitFor = (pred, what, ms = 30000) => {
    const found = events.find(pred)
    if (found) return Promise.resolve(found)
    return new Promise((resolve, reject) => {
      const w = { pred, resolve }
      waiters.push(w)
      setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}; events: ${JSON.stringify(events).slice(0, 2000)}`)), ms).unref()
    })
  }
  const send = (line) => child.stdin.write(line + '\n')
  const stop = async () => {
    child.stdin.end()
    const t = setTimeout(() => { try { process.kill(child.pid, 'SIGKILL') } catch {} }, 5000)
    await exited
    clearTimeout(t)
  }
  return { child, events, waitFor, exited, send, stop }
}

export const withDeadline = (p, ms, what) =>
  Promise.race([p, new Promise((_, rej) => setTimeout(() => rej(new Error(`timed out: ${what}`)), ms).unref())])

