"""Marks the GLIBCXX_3.4.32 version requirement of an ELF file weak (VER_FLG_WEAK), so glibc only warns when
libstdc++ lacks it; the one symbol needing it comes from glibcxx_shim.so (LD_PRELOAD)."""
import struct, sys
path = sys.argv[1]
data = bytearray(open(path, 'rb').read())
shoff, = struct.unpack_from('<Q', data, 0x28)
shentsize, shnum, shstrndx = struct.unpack_from('<HHH', data, 0x3A)
secs = [struct.unpack_from('<IIQQQQIIQQ', data, shoff + i * shentsize) for i in range(shnum)]
vr = next(s for s in secs if s[1] == 0x6ffffffe)  # SHT_GNU_verneed
strtab = secs[vr[6]]
def name(off):
    start = strtab[4] + off
    return bytes(data[start:data.index(0, start)]).decode()
off, patched = vr[4], 0
for _ in range(vr[8]):  # sh_info = number of Verneed entries
    vn_version, vn_cnt, vn_file, vn_aux, vn_next = struct.unpack_from('<HHIII', data, off)
    aux = off + vn_aux
    for _ in range(vn_cnt):
        vna_hash, vna_flags, vna_other, vna_name, vna_next = struct.unpack_from('<IHHII', data, aux)
        if name(vna_name) == 'GLIBCXX_3.4.32':
            struct.pack_into('<H', data, aux + 4, vna_flags | 0x2)
            patched += 1
        aux += vna_next
    if vn_next == 0: break
    off += vn_next
open(path, 'wb').write(data)
print(f'{path}: {patched} requirement(s) marked weak')
