{
  "targets": [
    {
      "target_name": "vimage_tap",
      "sources": ["native/tap.c", "native/sys.c", "native/pcap.c"],
      "libraries": ["-ldl", "-lpthread"],
      "defines": ["NAPI_VERSION=8"],
      "cflags": ["-O2", "-Wall", "-Wextra", "-Wno-unused-parameter"],
      "cflags_c": ["-std=gnu11"]
    },
    {
      "target_name": "vimage-supervisor",
      "type": "executable",
      "sources": ["native/supervisor.c", "native/supervisor_calls.c", "native/supervisor_dgram.c", "native/supervisor_icmp.c"],
      "cflags": ["-O2", "-Wall", "-Wextra", "-Wno-unused-parameter"],
      "cflags_c": ["-std=gnu11"]
    }
  ]
}
