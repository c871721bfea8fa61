// The reconnect of a cadre's phone back after a month offline, through two peers of zhibu's
// fast path, with the same records as the Rust benchmark (tests/src/bench/data.rs, ported):
//
// - automerge: the Automerge reference sync server (@automerge/automerge-repo-sync-server)
//   driven by @automerge/automerge-repo clients over its websocket protocol;
// - pouchdb: pouchdb-server, with the records as JSON documents (one per member, meeting,
//   point entry and case) replicated by PouchDB.
//
// The village holds nine months of records (roster of 50, 4 meetings of 40 attendees, 20 point
// entries and 3 case steps a month). Phone A synced them, then records October offline, one
// change (or document revision) per user action; phone B, online, records a meeting and 5
// point entries and syncs. Then phone A reconnects, through a counting TCP proxy on 127.0.0.1,
// until both sides have everything. Printed as in the Rust benchmark: `name value unit`.
//
// Run by run.sh, which installs the packages into a temporary folder and runs this file from
// there. Every server listens on 127.0.0.1 only.

import net from "node:net"
import fs from "node:fs"
import os from "node:os"
import path from "node:path"
import zlib from "node:zlib"
import { spawn } from "node:child_process"
import { createRequire } from "node:module"
import { fileURLToPath } from "node:url"

const JSON_OUT = process.argv.includes("--json")
const figures = []
function figure(name, value, unit) {
  figures.push({ name, value, unit })
  if (!JSON_OUT) console.log(`${name} ${Number.isInteger(value) ? value : value.toFixed(2)} ${unit}`)
}
function note(text) {
  ;(JSON_OUT ? console.error : console.log)(`# ${text}`)
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms))
// automerge-repo 1.x throws from a timer when it sends on a websocket that is closing, as when a
// phone loses its line: for a phone going offline that message is simply lost, as it would be.
process.on("uncaughtException", (e) => {
  if (String(e?.message).startsWith("Websocket not ready")) return
  console.error(e)
  process.exit(1)
})
const children = []
process.on("exit", () => children.forEach((c) => c.kill()))

// ---- The counting proxy: bytes each way, connections, and round trips (each time the phone
// speaks after the server has answered, or first on a new connection).
function countingProxy(targetPort) {
  const counts = { up: 0, down: 0, connections: 0, roundTrips: 0, last: Date.now() }
  const server = net.createServer((phone) => {
    const upstream = net.connect(targetPort, "127.0.0.1")
    counts.connections++
    let answered = true
    phone.setNoDelay(true)
    upstream.setNoDelay(true)
    phone.on("data", (d) => {
      if (answered) {
        counts.roundTrips++
        answered = false
      }
      counts.up += d.length
      counts.last = Date.now()
      upstream.write(d)
    })
    upstream.on("data", (d) => {
      answered = true
      counts.down += d.length
      counts.last = Date.now()
      phone.write(d)
    })
    const end = () => {
      phone.destroy()
      upstream.destroy()
    }
    phone.on("close", end)
    upstream.on("close", end)
    phone.on("error", end)
    upstream.on("error", end)
  })
  return new Promise((resolve) =>
    server.listen(0, "127.0.0.1", () => resolve({ server, port: server.address().port, counts })),
  )
}
const snapshot = (c) => ({ up: c.up, down: c.down, connections: c.connections, roundTrips: c.roundTrips })
const minus = (a, b) => ({
  up: a.up - b.up,
  down: a.down - b.down,
  connections: a.connections - b.connections,
  roundTrips: a.roundTrips - b.roundTrips,
})
async function quiet(counts, ms = 300) {
  while (Date.now() - counts.last < ms) await sleep(20)
}
const deflated = (buffers) => (buffers.length ? zlib.deflateRawSync(Buffer.concat(buffers)).length : 0)

// ---- The records (a port of tests/src/bench/data.rs and zhibu_schema::sample::roster).
const SURNAMES = ["王", "李", "张", "刘", "陈", "杨", "赵", "黄", "周", "吴", "徐", "孙", "胡", "朱", "高", "林", "何", "郭", "马", "罗"]
const GIVEN = ["建国", "秀英", "志强", "桂兰", "春生", "玉梅", "德明", "海燕", "国庆", "淑珍", "永红", "卫东", "丽华", "俊杰", "晓燕", "文斌", "金凤", "长青", "明亮", "红梅", "大勇", "素芳", "富贵", "新民"]
const GROUPS = ["第一党小组", "第二党小组", "第三党小组"]
const LABELS = {
  branch_assembly: "支部党员大会",
  branch_committee: "支部委员会",
  group_meeting: "党小组会",
  party_lesson: "党课",
  theme_day: "主题党日",
}
const YEAR = new Date().getFullYear()
const pad = (n) => String(n).padStart(2, "0")
const day = (m, d) => `${YEAR}-${pad(m)}-${pad(d)}`

function roster(village) {
  const members = []
  for (let i = 0; i < 50; i++) {
    members.push([
      `${village}-m${pad(i + 1)}`,
      {
        name: SURNAMES[(i * 7 + 3) % 20] + GIVEN[(i * 5 + 1) % 24],
        group: GROUPS[i % 3],
        status: i % 8 === 7 ? "probationary" : "full",
        committee: i < 5,
        joined_on: `${1975 + ((i * 13) % 48)}-07-01`,
      },
    ])
  }
  return members
}

function salt(village, phone) {
  let h = 0xcbf29ce484222325n
  for (const b of Buffer.from(village)) h = ((h ^ BigInt(b)) * 0x100000001b3n) & 0xffffffffffffffffn
  return h ^ ((BigInt(phone) * 0x9e3779b97f4a7c15n) & 0xffffffffffffffffn)
}
function id(s, month, kind, index) {
  const n = (s << 64n) | (BigInt(month) << 24n) | (BigInt(kind) << 16n) | BigInt(index)
  const h = n.toString(16).padStart(32, "0")
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`
}

const STEPS = ["proposal", "consultation", "assembly_review", "villager_resolution", "resolution_notice", "result_notice"]
function month(members, m, by, s) {
  const out = []
  const fourth = m % 3 === 0 ? "branch_assembly" : m % 3 === 1 ? "party_lesson" : "group_meeting"
  const groups = [...GROUPS].sort()
  ;["branch_committee", "theme_day", "group_meeting", fourth].forEach((kind, j) => {
    const meeting = {
      kind,
      held_on: day(m, 3 + 7 * j),
      topic: `${m}月${LABELS[kind]}：学习贯彻会议精神，部署本月工作`,
      place: "村党群服务中心",
      host: members[0][1].name,
      recorder: members[1][1].name,
      attendance: {},
    }
    if (kind === "group_meeting") meeting.group = groups[(m + j) % groups.length]
    if (kind === "branch_committee") meeting.resolutions = "一、做好秋冬季防火工作；二、推进村道硬化项目；三、走访慰问困难党员。"
    for (let i = 0; i < 40; i++) {
      const [member] = members[(i + m * 3 + j) % 50]
      meeting.attendance[member] =
        i % 10 === 7
          ? { status: "leave", reason: "外出务工", approved_by: members[0][1].name }
          : i % 13 === 5
            ? { status: "absent" }
            : { status: "present" }
    }
    out.push({ type: "meeting", id: id(s, m, 1, j), record: meeting })
  })
  const rules = [
    ["volunteer", 2, "参加村道清扫志愿服务"],
    ["lead_prosperity", 5, "带动三户村民发展种植"],
    ["volunteer", 3, "协助开展防汛值守"],
    ["dues_late", -2, "未按时交纳党费"],
    ["honour", 5, "获评镇级优秀党员"],
  ]
  for (let i = 0; i < 20; i++) {
    const [rule, delta, note] = rules[i % rules.length]
    const [member] = members[(i * 7 + m) % 50]
    out.push({ type: "points", id: id(s, m, 2, i), record: { member_id: member, rule, delta, on: day(m, 1 + (i % 27)), note, by } })
  }
  const opening = m % 2 === 1 ? m : m - 1
  const caseId = id(s, opening, 3, 0)
  if (m % 2 === 1) {
    out.push({
      type: "case",
      id: caseId,
      record: { item: "major_decision", title: `${m}月村道硬化工程决策`, opened_on: day(m, 2), applicant: members[2][1].name, steps: {} },
    })
  }
  const first = m % 2 === 1 ? 0 : 3
  STEPS.slice(first, first + 3).forEach((code, k) => {
    out.push({ type: "step", id: caseId, code, record: { done_on: day(m, 5 + 7 * k), by, note: "按程序办理" } })
  })
  return out
}

const VILLAGE = "r1"
const MEMBERS = roster(VILLAGE)
const BASE = []
for (let m = 1; m <= 9; m++) BASE.push(...month(MEMBERS, m, `${VILLAGE}-cadre-${"ab"[m % 2]}`, salt(VILLAGE, 0)))
const OFFLINE = month(MEMBERS, 10, `${VILLAGE}-cadre-a`, salt(VILLAGE, 0))
const NEXT = month(MEMBERS, 11, `${VILLAGE}-cadre-b`, salt(VILLAGE, 0))
const ONLINE = [...NEXT.filter((a) => a.type === "meeting").slice(0, 1), ...NEXT.filter((a) => a.type === "points").slice(0, 5)]

// ---- Automerge: the reference sync server and automerge-repo clients.
async function automergeRepo(modules) {
  // Automerge itself as automerge-repo re-exports it: the same instance the documents live in.
  const { Repo, getChanges, view } = await import("@automerge/automerge-repo")
  const { BrowserWebSocketClientAdapter } = await import("@automerge/automerge-repo-network-websocket")
  const { NodeFSStorageAdapter } = await import("@automerge/automerge-repo-storage-nodefs")
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "zhibu-peers-am-"))
  // The reference server, as its package starts it (src/index.js), in its own process. Its
  // src/server.js listens on every interface and takes no host: a preload makes it listen on
  // 127.0.0.1 only.
  const preload = path.join(tmp, "loopback.cjs")
  fs.writeFileSync(
    preload,
    `const net = require("net"); const listen = net.Server.prototype.listen;
     net.Server.prototype.listen = function (port, ...rest) {
       if (typeof port === "number" && (rest.length === 0 || typeof rest[0] === "function")) return listen.call(this, port, "127.0.0.1", ...rest);
       return listen.call(this, port, ...rest);
     };`,
  )
  const port = 30000 + Math.floor(Math.random() * 20000)
  const server = spawn(process.execPath, ["--require", preload, modules + "/@automerge/automerge-repo-sync-server/src/index.js"], {
    env: { ...process.env, PORT: String(port), DATA_DIR: path.join(tmp, "server") },
    cwd: tmp,
    stdio: ["ignore", "pipe", "ignore"],
  })
  children.push(server)
  await new Promise((resolve) => server.stdout.on("data", (d) => String(d).includes("Listening") && resolve()))
  const proxy = await countingProxy(port)
  const direct = `ws://127.0.0.1:${port}`
  const viaProxy = `ws://127.0.0.1:${proxy.port}`
  const sockets = []
  // A client: over the network at `url` (none: offline), stored in `dir` (none: in memory).
  const repo = (url, dir) => {
    const network = url ? [new BrowserWebSocketClientAdapter(url)] : []
    sockets.push(...network)
    return new Repo({ network, storage: dir ? new NodeFSStorageAdapter(dir) : undefined })
  }
  // Every client so far loses its line, for good (no reconnecting).
  const hangUp = () =>
    sockets.forEach((a) => {
      a.retryInterval = 0
      a.socket?.close()
    })

  const apply = (d, a) => {
    if (a.type === "meeting") d.meetings[a.id] = a.record
    else if (a.type === "points") d.points[a.id] = a.record
    else if (a.type === "case") d.cases[a.id] = a.record
    else if (a.type === "step") d.cases[a.id].steps[a.code] = a.record
  }
  // Whether a document has the records of some actions.
  const hasAll = (doc, actions) =>
    doc !== undefined &&
    actions.every((a) =>
      a.type === "step"
        ? doc.cases?.[a.id]?.steps?.[a.code] !== undefined
        : doc[{ meeting: "meetings", points: "points", case: "cases" }[a.type]]?.[a.id] !== undefined,
    )
  async function until(check, what) {
    const start = Date.now()
    while (!(await check())) {
      if (Date.now() - start > 60000) throw new Error(`automerge: timed out waiting for ${what}`)
      await sleep(10)
    }
  }

  try {
    // The village's nine months, from a seeding client.
    const seeder = repo(direct)
    const handle = seeder.create()
    handle.change((d) => {
      d.schema_version = 1
      d.village_id = VILLAGE
      d.year = YEAR
      d.members = Object.fromEntries(MEMBERS)
      d.meetings = {}
      d.points = {}
      d.cases = {}
    })
    for (const a of BASE) handle.change((d) => apply(d, a))
    let checker = repo(direct)
    const serverCopy = () => checker.find(handle.url).doc()
    await until(async () => hasAll(await serverCopy(), BASE), "the seeded village")

    // Phone A gets the village, then goes offline; phone B stays online.
    const dirA = path.join(tmp, "phone-a")
    fs.mkdirSync(dirA)
    let phoneA = repo(viaProxy, dirA)
    const handleA = phoneA.find(handle.url)
    await until(async () => hasAll(await handleA.doc(), BASE), "phone A's first sync")
    await phoneA.flush()
    const phoneB = repo(direct)
    const handleB = phoneB.find(handle.url)
    await handleB.doc()

    // Offline, A records the month (the app opened without a network); B records a meeting and
    // points and syncs them.
    const offlineA = repo(null, dirA)
    const hOff = offlineA.find(handle.url)
    await until(async () => hasAll(await hOff.doc(), BASE), "phone A's store")
    const before = hOff.heads()
    for (const a of OFFLINE) hOff.change((d) => apply(d, a))
    await offlineA.flush()
    const up = getChanges(view(hOff.docSync(), before), hOff.docSync()).map((c) => Buffer.from(c))
    const bBefore = handleB.heads()
    for (const a of ONLINE) handleB.change((d) => apply(d, a))
    const down = getChanges(view(handleB.docSync(), bBefore), handleB.docSync()).map((c) => Buffer.from(c))
    await until(async () => hasAll(await serverCopy(), ONLINE), "phone B's sync")
    hangUp()
    await sleep(300)

    // A reconnects: the app opens its store and syncs, through the counting proxy.
    await quiet(proxy.counts)
    const w0 = snapshot(proxy.counts)
    const t0 = performance.now()
    phoneA = repo(viaProxy, dirA)
    checker = repo(direct)
    const again = phoneA.find(handle.url)
    await until(async () => hasAll(await again.doc(), ONLINE) && hasAll(await serverCopy(), OFFLINE), "the reconnect")
    const ms = performance.now() - t0
    await quiet(proxy.counts)
    const wire = minus(snapshot(proxy.counts), w0)
    figure("automerge_repo_reconnect_round_trips", wire.roundTrips, "round_trips")
    figure("automerge_repo_reconnect_bytes_up", wire.up, "bytes")
    figure("automerge_repo_reconnect_bytes_down", wire.down, "bytes")
    figure("automerge_repo_reconnect_changes_bytes", deflated(up) + deflated(down), "bytes")
    figure("automerge_repo_reconnect_connections", wire.connections, "connections")
    figure("automerge_repo_reconnect_ms", ms, "ms")
    note(`automerge-repo: ${up.length} changes up, ${down.length} down; the time is until a poll (every 10 ms) sees both sides have everything`)
    hangUp()
  } finally {
    server.kill()
    proxy.server.close()
    fs.rmSync(tmp, { recursive: true, force: true })
  }
}

// ---- PouchDB: pouchdb-server and PouchDB replication, the records as JSON documents.
async function pouchdb(modules) {
  const req = createRequire(import.meta.url)
  const PouchDB = req("pouchdb-core").plugin(req("pouchdb-adapter-memory")).plugin(req("pouchdb-adapter-http")).plugin(req("pouchdb-replication"))
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "zhibu-peers-pouch-"))
  const port = 30000 + Math.floor(Math.random() * 20000)
  const server = spawn(
    process.execPath,
    [modules + "/pouchdb-server/bin/pouchdb-server", "--host", "127.0.0.1", "--port", String(port), "--in-memory"],
    { cwd: tmp, stdio: ["ignore", "pipe", "ignore"] },
  )
  children.push(server)
  await new Promise((resolve) => server.stdout.on("data", (d) => String(d).includes("has started") && resolve()))
  const proxy = await countingProxy(port)
  const db = `village_${VILLAGE}`
  const direct = new PouchDB(`http://127.0.0.1:${port}/${db}`)
  const viaProxy = new PouchDB(`http://127.0.0.1:${proxy.port}/${db}`)
  let n = 0
  const local = () => new PouchDB(`phone-${n++}`, { adapter: "memory" })

  // One JSON document per record; a case step is a new revision of its case.
  async function record(pdb, a) {
    if (a.type === "step") {
      const c = await pdb.get(`case:${a.id}`)
      c.steps[a.code] = a.record
      return pdb.put(c)
    }
    return pdb.put({ _id: `${a.type}:${a.id}`, village_id: VILLAGE, ...a.record })
  }

  try {
    const seeder = local()
    await seeder.bulkDocs(MEMBERS.map(([id, m]) => ({ _id: `member:${id}`, village_id: VILLAGE, ...m })))
    for (const a of BASE) await record(seeder, a)
    await PouchDB.replicate(seeder, direct)

    const phoneA = local()
    await PouchDB.replicate(viaProxy, phoneA)
    const phoneB = local()
    await PouchDB.replicate(direct, phoneB)

    const seqA = (await phoneA.info()).update_seq
    for (const a of OFFLINE) await record(phoneA, a)
    const seqB = (await phoneB.info()).update_seq
    for (const a of ONLINE) await record(phoneB, a)
    await PouchDB.replicate(phoneB, direct)
    const changed = async (pdb, since) =>
      (await pdb.changes({ since, include_docs: true })).results.map((r) => Buffer.from(JSON.stringify(r.doc)))
    const up = await changed(phoneA, seqA)
    const down = await changed(phoneB, seqB)

    await quiet(proxy.counts)
    const w0 = snapshot(proxy.counts)
    const t0 = performance.now()
    await PouchDB.sync(phoneA, viaProxy)
    const ms = performance.now() - t0
    await quiet(proxy.counts)
    const wire = minus(snapshot(proxy.counts), w0)
    const a = await phoneA.allDocs()
    const s = await direct.allDocs()
    if (a.total_rows !== s.total_rows) throw new Error(`pouchdb: phone has ${a.total_rows} documents, server ${s.total_rows}`)
    figure("pouchdb_reconnect_round_trips", wire.roundTrips, "round_trips")
    figure("pouchdb_reconnect_bytes_up", wire.up, "bytes")
    figure("pouchdb_reconnect_bytes_down", wire.down, "bytes")
    figure("pouchdb_reconnect_changes_bytes", deflated(up) + deflated(down), "bytes")
    figure("pouchdb_reconnect_connections", wire.connections, "connections")
    figure("pouchdb_reconnect_ms", ms, "ms")
    note(`pouchdb: ${up.length} documents up, ${down.length} down (the changed documents as JSON, compressed, for the changes figure)`)
  } finally {
    server.kill()
    proxy.server.close()
    fs.rmSync(tmp, { recursive: true, force: true })
  }
}

// The packages are installed beside this file (run.sh copies it into the install folder).
const modules = path.join(path.dirname(fileURLToPath(import.meta.url)), "node_modules")
note(`machine: ${os.cpus()[0]?.model}, ${os.cpus().length} cores; node ${process.version}`)
note("scale: one phone back after a month offline (4 meetings x 40 attendees, 20 point entries, 3 case steps); the other phone's meeting and 5 point entries come down")
await automergeRepo(modules)
await pouchdb(modules)
if (JSON_OUT) console.log(JSON.stringify({ figures }, null, 2))
process.exit(0)
