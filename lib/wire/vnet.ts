/**
 * The virtio-net header (struct virtio_net_hdr, 10 bytes, little-endian as
 * Linux TAP devices use it on x86 and arm64) that travels in front of every
 * frame on an IFF_VNET_HDR TAP. It carries checksum-offload and GSO metadata;
 * a frame keeps its VnetHdr through the stack so large segments are
 * forwarded intact.
 */

export const VNET_HDR_LEN = 10;
export const VIRTIO_NET_HDR_F_NEEDS_CSUM = 1;
export const VIRTIO_NET_HDR_F_DATA_VALID = 2;

export const VIRTIO_NET_HDR_GSO = {
  NONE: 0,
  TCPV4: 1,
  UDP: 3,
  TCPV6: 4,
  ECN: 0x80,
} as const;

export class VnetHdr {
  flags = 0;
  gsoType = 0;
  /** Length of the headers to copy in front of each segment. */
  hdrLen = 0;
  /** Segment payload size (MSS). */
  gsoSize = 0;
  /** Where checksumming starts, from the start of the Ethernet frame. */
  csumStart = 0;
  /** Where the checksum goes, from csumStart. */
  csumOffset = 0;

  read(buf: Uint8Array, off: number): this {
    this.flags = buf[off]!;
    this.gsoType = buf[off + 1]!;
    this.hdrLen = buf[off + 2]! | (buf[off + 3]! << 8);
    this.gsoSize = buf[off + 4]! | (buf[off + 5]! << 8);
    this.csumStart = buf[off + 6]! | (buf[off + 7]! << 8);
    this.csumOffset = buf[off + 8]! | (buf[off + 9]! << 8);
    return this;
  }

  write(buf: Uint8Array, off: number): void {
    buf[off] = this.flags;
    buf[off + 1] = this.gsoType;
    buf[off + 2] = this.hdrLen & 0xff;
    buf[off + 3] = this.hdrLen >>> 8;
    buf[off + 4] = this.gsoSize & 0xff;
    buf[off + 5] = this.gsoSize >>> 8;
    buf[off + 6] = this.csumStart & 0xff;
    buf[off + 7] = this.csumStart >>> 8;
    buf[off + 8] = this.csumOffset & 0xff;
    buf[off + 9] = this.csumOffset >>> 8;
  }

  clear(): this {
    this.flags = 0;
    this.gsoType = 0;
    this.hdrLen = 0;
    this.gsoSize = 0;
    this.csumStart = 0;
    this.csumOffset = 0;
    return this;
  }

  copyFrom(o: VnetHdr): this {
    this.flags = o.flags;
    this.gsoType = o.gsoType;
    this.hdrLen = o.hdrLen;
    this.gsoSize = o.gsoSize;
    this.csumStart = o.csumStart;
    this.csumOffset = o.csumOffset;
    return this;
  }
}
