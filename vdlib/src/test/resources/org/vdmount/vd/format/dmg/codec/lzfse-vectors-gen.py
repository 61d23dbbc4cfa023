# Deterministic inputs for the LZFSE test vectors. The PRNG is xorshift64* seeded per vector.
import hashlib, sys
M = (1 << 64) - 1
class Rng:
    def __init__(self, seed): self.s = seed & M or 1
    def next(self):
        s = self.s; s ^= s >> 12; s ^= (s << 25) & M; s ^= s >> 27; self.s = s
        return (s * 0x2545F4914F6CDD1D) & M
    def below(self, n): return (self.next() >> 33) % n
WORDS = "the of and to in is it that was for on are as with his they at be this from have or by one had not but what all were when we there can an your which their said if do will each about how up out them then she many some so these would other into has more her two like him see time could no make than first been its who now people my made over did down only way find use may water long little very after words called just where most know".split()
def text(seed, n):
    r = Rng(seed); out = bytearray()
    while len(out) < n:
        out += WORDS[r.below(len(WORDS))].encode()
        out += b". " if r.below(12) == 0 else b" "
    return bytes(out[:n])
def rand(seed, n):
    r = Rng(seed); return bytes(r.next() & 0xFF for _ in range(n))
def mixed(seed, n):
    r = Rng(seed); out = bytearray()
    while len(out) < n:
        kind = r.below(4); run = 1 + r.below(400)
        if kind == 0: out += bytes(r.next() & 0xFF for _ in range(run))
        elif kind == 1: out += bytes(run)
        elif kind == 2 and len(out) > 0:
            d = 1 + r.below(min(len(out), 70000))
            for _ in range(run): out.append(out[-d])
        else: out += text(r.next(), run)
    return bytes(out[:n])
VECTORS = {
    "empty": lambda: b"",
    "zeros-64k": lambda: bytes(65536),
    "text-20k": lambda: text(1, 20000),
    "random-16k": lambda: rand(2, 16384),
    "mixed-60k": lambda: mixed(3, 61440),
    "text-2k-lzvn": lambda: text(4, 2000),
    "mixed-3k-lzvn": lambda: mixed(5, 3000),
    "words-multiblock": lambda: text(6, 150000),
}
if __name__ == "__main__":
    for name, f in VECTORS.items():
        data = f()
        open(name + ".bin", "wb").write(data)
        print(name, len(data), hashlib.sha256(data).hexdigest())
