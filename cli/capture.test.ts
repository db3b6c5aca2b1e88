import assert from 'node:assert/strict';
import { test } from 'node:test';
import { captureToFile } from './capture.js';

test('tcpdump -w FILE is sent as -w - with the file kept by the client', () => {
  assert.deepEqual(captureToFile(['tcpdump', '-i', 'tap0', '-w', 'out.pcap', 'icmp']), { argv: ['tcpdump', '-i', 'tap0', '-w', '-', 'icmp'], file: 'out.pcap' });
  assert.deepEqual(captureToFile(['tcpdump', '-nwout.pcap']), { argv: ['tcpdump', '-nw-'], file: 'out.pcap' });
  assert.deepEqual(captureToFile(['tcpdump', '-c', '5', '-ew', '/tmp/x']), { argv: ['tcpdump', '-c', '5', '-ew', '-'], file: '/tmp/x' });
});

test('tcpdump without -w FILE, -w -, option arguments that look like -w, and other commands are left alone', () => {
  assert.equal(captureToFile(['tcpdump', '-w', '-']), null);
  assert.equal(captureToFile(['tcpdump', '-i', '-w']), null);
  assert.equal(captureToFile(['tcpdump', '-n', 'icmp']), null);
  assert.equal(captureToFile(['nc', '-w', '5', 'host', '80']), null);
  assert.equal(captureToFile(['tcpdump', '--', '-w', 'x']), null);
});
