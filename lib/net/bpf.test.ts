import assert from 'node:assert/strict';
import { test } from 'node:test';
import { VnetHdr } from '../wire/vnet.js';
import { BPF_REC_HDR, BpfDesc } from './bpf.js';
import { BpfProgram } from './bpf_filter.js';
import { IFF, Ifnet, type IfIndex, type IfnetOwner, type LinkDriver } from './if.js';
import type { Mac } from '../wire/ethernet.js';

function ifnet(flags: number = IFF.UP): { ifp: Ifnet; inputs: number[]; outputs: number[] } {
  const inputs: number[] = [];
  const outputs: number[] = [];
  const owner: IfnetOwner = { name: 'T', etherInput: (_i, _b, _o, len) => void inputs.push(len) };
  const driver: LinkDriver = {
    kind: 'test',
    offload: false,
    headroom: 0,
    output: (_i, _b, _o, len) => void outputs.push(len),
    destroy: () => {},
    describe: () => ({}),
  };
  const ifp = new Ifnet({ index: 1 as IfIndex, name: 't0', kind: 'test', owner, flags, mtu: 1500, mac: 0x020000000001 as Mac, driver });
  return { ifp, inputs, outputs };
}

const frame = (len: number, type = 0x0800): Uint8Array => {
  const f = new Uint8Array(len);
  f[12] = type >> 8;
  f[13] = type & 0xff;
  for (let i = 14; i < len; i++) f[i] = i & 0xff;
  return f;
};
const meta = new VnetHdr();
let t = 1_000_000;
const clock = (): number => (t += 10);

function records(d: BpfDesc): Array<[number, number[], number]> {
  const out: Array<[number, number[], number]> = [];
  d.read((ts, f, wire) => out.push([ts, [...f], wire]));
  return out;
}

test('no capture: the tap is a null field and frames pass as before', () => {
  const { ifp, inputs, outputs } = ifnet();
  assert.equal(ifp.bpf, null);
  ifp.input(frame(60), 0, 60, meta);
  ifp.output(frame(60), 0, 60, meta);
  assert.deepEqual([inputs, outputs], [[60], [60]]);
});

test('a capture sees both directions, with snaplen bytes, the wire length and a timestamp; closing it restores the null tap', () => {
  const { ifp } = ifnet();
  const d = new BpfDesc({ program: null, snaplen: 20, nowUs: clock }).attach(ifp);
  const a = new BpfDesc({ program: null, snaplen: 100, nowUs: clock }).attach(ifp);
  const buf = new Uint8Array(100);
  buf.set(frame(60), 10);
  ifp.input(buf, 10, 60, meta);
  ifp.output(frame(30), 0, 30, meta);
  const r = records(d);
  assert.equal(r.length, 2);
  assert.deepEqual(r.map(([, f, w]) => [f.length, w]), [[20, 60], [20, 30]]);
  assert.deepEqual(r[0]![1], [...frame(60).subarray(0, 20)]);
  assert.ok(r[1]![0] > r[0]![0]);
  assert.equal(d.fill, 0);
  assert.equal(records(a).length, 2);
  d.close();
  assert.deepEqual(ifp.bpf, [a]);
  a.close();
  a.close();
  assert.equal(ifp.bpf, null);
  ifp.input(frame(60), 0, 60, meta);
  assert.equal(d.received, 2);
});

test('the filter decides what is kept; received counts every frame the tap saw', () => {
  const { ifp } = ifnet();
  // arp: ldh [12]; jeq #0x806 jt 0 jf 1; ret #64; ret #0
  const p = BpfProgram.from(Uint32Array.from([0x28, 0, 0, 12, 0x15, 0, 1, 0x806, 0x6, 0, 0, 64, 0x6, 0, 0, 0]));
  assert.ok(p instanceof BpfProgram);
  const d = new BpfDesc({ program: p, snaplen: 262144, nowUs: clock }).attach(ifp);
  ifp.input(frame(60), 0, 60, meta);
  ifp.input(frame(90, 0x0806), 0, 90, meta);
  ifp.output(frame(42, 0x0806), 0, 42, meta);
  const r = records(d);
  assert.deepEqual(r.map(([, f, w]) => [f.length, w]), [[64, 90], [42, 42]]);
  assert.deepEqual([d.received, d.accepted, d.dropped], [3, 2, 0]);
});

test('a full store buffer drops and counts instead of growing; the reader is woken once per batch', () => {
  const { ifp, inputs } = ifnet();
  const d = new BpfDesc({ program: null, snaplen: 1500, bufSize: 4096, nowUs: clock }).attach(ifp);
  let wakes = 0;
  d.wake = () => void wakes++;
  for (let i = 0; i < 10; i++) ifp.input(frame(1000), 0, 1000, meta);
  assert.equal(inputs.length, 10);
  const fit = Math.floor(4096 / (1000 + BPF_REC_HDR));
  assert.deepEqual([d.received, d.accepted, d.dropped, wakes], [10, 10, 10 - fit, 1]);
  assert.equal(records(d).length, fit);
  ifp.input(frame(1000), 0, 1000, meta);
  assert.equal(wakes, 2);
});

test('loopback interfaces tap input only, so a packet shows once', () => {
  const { ifp } = ifnet(IFF.UP | IFF.LOOPBACK);
  const d = new BpfDesc({ program: null, snaplen: 100, nowUs: clock }).attach(ifp);
  ifp.output(frame(60), 0, 60, meta);
  ifp.input(frame(60), 0, 60, meta);
  assert.equal(records(d).length, 1);
});

test('an interface that is down taps nothing', () => {
  const { ifp } = ifnet(0);
  const d = new BpfDesc({ program: null, snaplen: 100, nowUs: clock }).attach(ifp);
  ifp.input(frame(60), 0, 60, meta);
  ifp.output(frame(60), 0, 60, meta);
  assert.equal(d.received, 0);
});
