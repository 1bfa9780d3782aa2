#!/usr/bin/python3
"""lmc's block formats against ggml's reference code, transcribed here independently.

The functions below follow ggml's dequantize_row_*, quantize_row_q8_K_ref and
quantize_row_q{4,5,6}_K_ref (with make_qkx2_quants and make_qx_quants; ggml-quants.c)
statement by statement, in numpy float32 scalars (one IEEE f32 operation per C operation, as the
C computes without fused multiply-adds). For each format the script makes random blocks (valid
binary16 scales, subnormals included, every other byte random), has lmc dequantize them
(block_formats_tool) and requires every value equal bit for bit; then Q8_K quantization of
random activations, and Q4_K / Q5_K / Q6_K quantization of random weights (the bytes
llama-quantize writes without an importance matrix), byte for byte.

usage: ggml_blocks_reference.py BLOCK_FORMATS_TOOL
"""
import os
import subprocess
import sys
import tempfile

import numpy as np

F = np.float32
QK_K = 256
KVALUES_IQ4NL = [-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113]


def f16(b, at):
    return F(np.frombuffer(bytes(b[at:at + 2]), dtype="<f2")[0])


def u32(b, at):
    return int.from_bytes(bytes(b[at:at + 4]), "little")


def i8(v):
    v &= 0xFF
    return v - 256 if v > 127 else v


# --- dequantize_row_* of ggml, one block each -----------------------------------------------

def deq_q8_0(b):
    d = f16(b, 0)
    return [F(i8(b[2 + j])) * d for j in range(32)]


def deq_q4_0(b):
    d = f16(b, 0)
    y = [None] * 32
    for j in range(16):
        y[j] = F((b[2 + j] & 0x0F) - 8) * d
        y[j + 16] = F((b[2 + j] >> 4) - 8) * d
    return y


def deq_q4_1(b):
    d, m = f16(b, 0), f16(b, 2)
    y = [None] * 32
    for j in range(16):
        y[j] = F(b[4 + j] & 0x0F) * d + m
        y[j + 16] = F(b[4 + j] >> 4) * d + m
    return y


def deq_q5_0(b):
    d = f16(b, 0)
    qh = u32(b, 2)
    y = [None] * 32
    for j in range(16):
        xh_0 = ((qh >> j) << 4) & 0x10
        xh_1 = (qh >> (j + 12)) & 0x10
        y[j] = F(((b[6 + j] & 0x0F) | xh_0) - 16) * d
        y[j + 16] = F(((b[6 + j] >> 4) | xh_1) - 16) * d
    return y


def deq_q5_1(b):
    d, m = f16(b, 0), f16(b, 2)
    qh = u32(b, 4)
    y = [None] * 32
    for j in range(16):
        xh_0 = ((qh >> j) << 4) & 0x10
        xh_1 = (qh >> (j + 12)) & 0x10
        y[j] = F((b[8 + j] & 0x0F) | xh_0) * d + m
        y[j + 16] = F((b[8 + j] >> 4) | xh_1) * d + m
    return y


def deq_iq4_nl(b):
    d = f16(b, 0)
    y = [None] * 32
    for j in range(16):
        y[j] = d * F(KVALUES_IQ4NL[b[2 + j] & 0xF])
        y[j + 16] = d * F(KVALUES_IQ4NL[b[2 + j] >> 4])
    return y


def deq_q2_k(b):
    scales, qs = b[0:16], b[16:80]
    d, mn = f16(b, 80), f16(b, 82)
    y = []
    is_ = 0
    q = 0
    for n in range(0, QK_K, 128):
        shift = 0
        for j in range(4):
            sc = scales[is_]; is_ += 1
            dl, ml = d * F(sc & 0xF), mn * F(sc >> 4)
            for l in range(16):
                y.append(dl * F((qs[q + l] >> shift) & 3) - ml)
            sc = scales[is_]; is_ += 1
            dl, ml = d * F(sc & 0xF), mn * F(sc >> 4)
            for l in range(16):
                y.append(dl * F((qs[q + l + 16] >> shift) & 3) - ml)
            shift += 2
        q += 32
    return y


def deq_q3_k(b):
    hm, qs, raw = b[0:32], b[32:96], b[96:108]
    d_all = f16(b, 108)
    kmask1, kmask2 = 0x03030303, 0x0F0F0F0F
    aux = [u32(raw, 0), u32(raw, 4), u32(raw, 8), 0]
    tmp = aux[2]
    aux[2] = ((aux[0] >> 4) & kmask2) | (((tmp >> 4) & kmask1) << 4)
    aux[3] = ((aux[1] >> 4) & kmask2) | (((tmp >> 6) & kmask1) << 4)
    aux[0] = (aux[0] & kmask2) | (((tmp >> 0) & kmask1) << 4)
    aux[1] = (aux[1] & kmask2) | (((tmp >> 2) & kmask1) << 4)
    scales = [i8(b_) for b_ in b"".join(a.to_bytes(4, "little") for a in aux)]
    y = []
    is_ = 0
    q = 0
    m = 1
    for n in range(0, QK_K, 128):
        shift = 0
        for j in range(4):
            dl = d_all * F(scales[is_] - 32); is_ += 1
            for l in range(16):
                y.append(dl * F(((qs[q + l] >> shift) & 3) - (0 if hm[l] & m else 4)))
            dl = d_all * F(scales[is_] - 32); is_ += 1
            for l in range(16):
                y.append(dl * F(((qs[q + l + 16] >> shift) & 3) - (0 if hm[l + 16] & m else 4)))
            shift += 2
            m <<= 1
        q += 32
    return y


def get_scale_min_k4(j, q):
    if j < 4:
        return q[j] & 63, q[j + 4] & 63
    return (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4), (q[j + 4] >> 4) | ((q[j] >> 6) << 4)


def deq_q4_k(b):
    d, mn = f16(b, 0), f16(b, 2)
    scales, qs = b[4:16], b[16:144]
    y = []
    is_ = 0
    q = 0
    for j in range(0, QK_K, 64):
        sc, m = get_scale_min_k4(is_, scales)
        d1, m1 = d * F(sc), mn * F(m)
        sc, m = get_scale_min_k4(is_ + 1, scales)
        d2, m2 = d * F(sc), mn * F(m)
        for l in range(32):
            y.append(d1 * F(qs[q + l] & 0xF) - m1)
        for l in range(32):
            y.append(d2 * F(qs[q + l] >> 4) - m2)
        q += 32
        is_ += 2
    return y


def deq_q5_k(b):
    d, mn = f16(b, 0), f16(b, 2)
    scales, qh, ql = b[4:16], b[16:48], b[48:176]
    y = []
    is_ = 0
    q = 0
    u1, u2 = 1, 2
    for j in range(0, QK_K, 64):
        sc, m = get_scale_min_k4(is_, scales)
        d1, m1 = d * F(sc), mn * F(m)
        sc, m = get_scale_min_k4(is_ + 1, scales)
        d2, m2 = d * F(sc), mn * F(m)
        for l in range(32):
            y.append(d1 * F((ql[q + l] & 0xF) + (16 if qh[l] & u1 else 0)) - m1)
        for l in range(32):
            y.append(d2 * F((ql[q + l] >> 4) + (16 if qh[l] & u2 else 0)) - m2)
        q += 32
        is_ += 2
        u1 <<= 2
        u2 <<= 2
    return y


def deq_q6_k(b):
    ql, qh, sc = b[0:128], b[128:192], [i8(v) for v in b[192:208]]
    d = f16(b, 208)
    y = [None] * QK_K
    for n in range(2):
        L, H, S, Y = 64 * n, 32 * n, 8 * n, 128 * n
        for l in range(32):
            is_ = l // 16
            q1 = i8((ql[L + l] & 0xF) | (((qh[H + l] >> 0) & 3) << 4)) - 32
            q2 = i8((ql[L + l + 32] & 0xF) | (((qh[H + l] >> 2) & 3) << 4)) - 32
            q3 = i8((ql[L + l] >> 4) | (((qh[H + l] >> 4) & 3) << 4)) - 32
            q4 = i8((ql[L + l + 32] >> 4) | (((qh[H + l] >> 6) & 3) << 4)) - 32
            y[Y + l] = d * F(sc[S + is_]) * F(q1)
            y[Y + l + 32] = d * F(sc[S + is_ + 2]) * F(q2)
            y[Y + l + 64] = d * F(sc[S + is_ + 4]) * F(q3)
            y[Y + l + 96] = d * F(sc[S + is_ + 6]) * F(q4)
    return y


# type: (block bytes, offsets of binary16 scales, dequantizer)
FORMATS = {
    "q8_0": (34, [0], deq_q8_0),
    "q4_0": (18, [0], deq_q4_0),
    "q4_1": (20, [0, 2], deq_q4_1),
    "q5_0": (22, [0], deq_q5_0),
    "q5_1": (24, [0, 2], deq_q5_1),
    "iq4_nl": (18, [0], deq_iq4_nl),
    "q2_k": (84, [80, 82], deq_q2_k),
    "q3_k": (110, [108], deq_q3_k),
    "q4_k": (144, [0, 2], deq_q4_k),
    "q5_k": (176, [0, 2], deq_q5_k),
    "q6_k": (210, [208], deq_q6_k),
}


def nearest_int(fval):
    val = F(fval) + F(12582912.0)
    i = int(np.array([val], dtype=np.float32).view(np.int32)[0])
    return (i & 0x007FFFFF) - 0x00400000


def quantize_q8_k(x):
    out = b""
    for i in range(0, len(x), QK_K):
        block = x[i:i + QK_K]
        mx, amax = F(0), F(0)
        for v in block:
            ax = F(abs(v))
            if ax > amax:
                amax, mx = ax, v
        if not amax:
            out += np.float32(0).tobytes() + bytes(QK_K) + bytes(32)
            continue
        iscale = F(-127.0) / mx
        qs = [min(127, nearest_int(iscale * v)) for v in block]
        bsums = [sum(qs[16 * j:16 * j + 16]) for j in range(QK_K // 16)]
        d = F(1) / iscale
        out += np.float32(d).tobytes() + np.array(qs, dtype=np.int8).tobytes()
        out += np.array(bsums, dtype="<i2").tobytes()
    return out


def f16_bits(v):
    return np.float16(v).tobytes()  # round to nearest even, as GGML_FP32_TO_FP16


def f16_value(bits):
    return F(np.frombuffer(bits, dtype="<f2")[0])


def make_qkx2_quants(n, nmax, x, weights, rmin, rdelta, nstep):
    # use_mad false. Returns (scale, the_min, L).
    mn, mx = x[0], x[0]
    sum_w = weights[0]
    sum_x = sum_w * x[0]
    for i in range(1, n):
        if x[i] < mn:
            mn = x[i]
        if x[i] > mx:
            mx = x[i]
        w = weights[i]
        sum_w = sum_w + w
        sum_x = sum_x + w * x[i]
    if mn > 0:
        mn = F(0)
    if mx == mn:
        return F(0), -mn, [0] * n
    iscale = F(nmax) / (mx - mn)
    scale = F(1) / iscale
    best_error = F(0)
    L = [0] * n
    for i in range(n):
        l = nearest_int(iscale * (x[i] - mn))
        L[i] = max(0, min(nmax, l))
        diff = scale * F(L[i]) + mn - x[i]
        diff = diff * diff
        best_error = best_error + weights[i] * diff
    for is_ in range(nstep + 1):
        iscale = (F(rmin) + F(rdelta) * F(is_) + F(nmax)) / (mx - mn)
        sum_l, sum_l2, sum_xl = F(0), F(0), F(0)
        Laux = [0] * n
        for i in range(n):
            l = max(0, min(nmax, nearest_int(iscale * (x[i] - mn))))
            Laux[i] = l
            w = weights[i]
            sum_l = sum_l + w * F(l)
            sum_l2 = sum_l2 + w * F(l) * F(l)
            sum_xl = sum_xl + w * F(l) * x[i]
        D = sum_w * sum_l2 - sum_l * sum_l
        if D > 0:
            this_scale = (sum_w * sum_xl - sum_x * sum_l) / D
            this_min = (sum_l2 * sum_x - sum_l * sum_xl) / D
            if this_min > 0:
                this_min = F(0)
                this_scale = sum_xl / sum_l2
            cur_error = F(0)
            for i in range(n):
                diff = this_scale * F(Laux[i]) + this_min - x[i]
                diff = diff * diff
                cur_error = cur_error + weights[i] * diff
            if cur_error < best_error:
                L = list(Laux)
                best_error = cur_error
                scale = this_scale
                mn = this_min
    return scale, -mn, L


def make_qx_quants(n, nmax, x):
    # rmse_type 1, no quant weights. Returns (scale, L).
    mx, amax = F(0), F(0)
    for v in x:
        ax = F(abs(v))
        if ax > amax:
            amax, mx = ax, v
    if amax < F(1e-15):
        return F(0), [0] * n
    iscale = F(-nmax) / mx
    sumlx, suml2 = F(0), F(0)
    L = [0] * n
    for i in range(n):
        l = max(-nmax, min(nmax - 1, nearest_int(iscale * x[i])))
        L[i] = l + nmax
        w = x[i] * x[i]
        sumlx = sumlx + w * x[i] * F(l)
        suml2 = suml2 + w * F(l) * F(l)
    scale = sumlx / suml2 if suml2 else F(0)
    best = scale * sumlx
    for is_ in range(-9, 10):
        if is_ == 0:
            continue
        iscale = -(F(nmax) + F(0.1) * F(is_)) / mx
        sumlx, suml2 = F(0), F(0)
        for i in range(n):
            l = max(-nmax, min(nmax - 1, nearest_int(iscale * x[i])))
            w = x[i] * x[i]
            sumlx = sumlx + w * x[i] * F(l)
            suml2 = suml2 + w * F(l) * F(l)
        if suml2 > 0 and sumlx * sumlx > best * suml2:
            for i in range(n):
                L[i] = nmax + max(-nmax, min(nmax - 1, nearest_int(iscale * x[i])))
            scale = sumlx / suml2
            best = scale * sumlx
    return scale, L


def quantize_q45_k(x, nmax):
    """quantize_row_q4_K_ref (nmax 15) / quantize_row_q5_K_ref (nmax 31), one super-block."""
    L = [0] * QK_K
    mins, scales = [F(0)] * 8, [F(0)] * 8
    max_scale, max_min = F(0), F(0)
    for j in range(8):
        xs = x[32 * j:32 * j + 32]
        sum_x2 = F(0)
        for v in xs:
            sum_x2 = sum_x2 + v * v
        av_x = F(np.sqrt(sum_x2 / F(32)))
        weights = [av_x + F(abs(v)) for v in xs]
        if nmax == 15:
            scales[j], mins[j], Lj = make_qkx2_quants(32, 15, xs, weights, -1.0, 0.1, 20)
        else:
            scales[j], mins[j], Lj = make_qkx2_quants(32, 31, xs, weights, -0.5, 0.1, 15)
        L[32 * j:32 * j + 32] = Lj
        if scales[j] > max_scale:
            max_scale = scales[j]
        if mins[j] > max_min:
            max_min = mins[j]
    inv_scale = F(63) / max_scale if max_scale > 0 else F(0)
    inv_min = F(63) / max_min if max_min > 0 else F(0)
    sc = bytearray(12)
    for j in range(8):
        ls = min(63, nearest_int(inv_scale * scales[j]) & 0xFF)
        lm = min(63, nearest_int(inv_min * mins[j]) & 0xFF)
        if j < 4:
            sc[j] = ls
            sc[j + 4] = lm
        else:
            sc[j + 4] = (ls & 0xF) | ((lm & 0xF) << 4)
            sc[j - 4] |= (ls >> 4) << 6
            sc[j] |= (lm >> 4) << 6
    d_bits, dmin_bits = f16_bits(max_scale / F(63)), f16_bits(max_min / F(63))
    d, dmin = f16_value(d_bits), f16_value(dmin_bits)
    for j in range(8):
        s, m = get_scale_min_k4(j, sc)
        dd = d * F(s)
        if not dd:
            continue
        dm = dmin * F(m)
        for i in range(32):
            L[32 * j + i] = max(0, min(nmax, nearest_int((x[32 * j + i] + dm) / dd)))
    return d_bits + dmin_bits + bytes(sc), L


def quantize_q4_k(x):
    head, L = quantize_q45_k(x, 15)
    qs = bytearray(128)
    for j in range(0, QK_K, 64):
        for l in range(32):
            qs[j // 2 + l] = L[j + l] | (L[j + l + 32] << 4)
    return head + bytes(qs)


def quantize_q5_k(x):
    head, L = quantize_q45_k(x, 31)
    qh, ql = bytearray(32), bytearray(128)
    m1, m2 = 1, 2
    for n in range(0, QK_K, 64):
        for j in range(32):
            l1, l2 = L[n + j], L[n + j + 32]
            if l1 > 15:
                l1 -= 16
                qh[j] |= m1
            if l2 > 15:
                l2 -= 16
                qh[j] |= m2
            ql[n // 2 + j] = l1 | (l2 << 4)
        m1 <<= 2
        m2 <<= 2
    return head + bytes(qh) + bytes(ql)


def quantize_q6_k(x):
    L = [0] * QK_K
    scales = [F(0)] * 16
    max_scale, max_abs_scale = F(0), F(0)
    for ib in range(16):
        scales[ib], L[16 * ib:16 * ib + 16] = make_qx_quants(16, 32, x[16 * ib:16 * ib + 16])
        if F(abs(scales[ib])) > max_abs_scale:
            max_abs_scale, max_scale = F(abs(scales[ib])), scales[ib]
    if max_abs_scale < F(1e-15):
        return bytes(210)
    iscale = F(-128) / max_scale
    d_bits = f16_bits(F(1) / iscale)
    sc = [min(127, nearest_int(iscale * scales[ib])) for ib in range(16)]
    d = f16_value(d_bits)
    for j in range(16):
        dd = d * F(i8(sc[j]))
        if not dd:
            continue
        for i in range(16):
            L[16 * j + i] = max(-32, min(31, nearest_int(x[16 * j + i] / dd))) + 32
    ql, qh = bytearray(128), bytearray(64)
    for j in range(0, QK_K, 128):
        for l in range(32):
            q1, q2, q3, q4 = (L[j + l] & 0xF, L[j + l + 32] & 0xF, L[j + l + 64] & 0xF,
                              L[j + l + 96] & 0xF)
            ql[j // 2 + l] = q1 | (q3 << 4)
            ql[j // 2 + l + 32] = q2 | (q4 << 4)
            qh[j // 4 + l] = ((L[j + l] >> 4) | ((L[j + l + 32] >> 4) << 2) |
                              ((L[j + l + 64] >> 4) << 4) | ((L[j + l + 96] >> 4) << 6))
    return bytes(ql) + bytes(qh) + bytes(v & 0xFF for v in sc) + d_bits


def random_scale(rng):
    # A finite binary16: any sign and mantissa, exponent 0 (subnormal) to 30, mostly small.
    exponent = int(rng.choice([0, 1, 5, 10, 12, 14, 15, 16, 20, 30]))
    bits = (int(rng.integers(0, 2)) << 15) | (exponent << 10) | int(rng.integers(0, 1024))
    return bits.to_bytes(2, "little")


def main():
    tool = sys.argv[1]
    rng = np.random.default_rng(21)
    failures = 0
    with tempfile.TemporaryDirectory() as tmp:
        src, dst = os.path.join(tmp, "in"), os.path.join(tmp, "out")
        for name, (size, scale_offsets, deq) in FORMATS.items():
            blocks = []
            for _ in range(48):
                b = bytearray(rng.integers(0, 256, size, dtype=np.uint8).tobytes())
                for at in scale_offsets:
                    b[at:at + 2] = random_scale(rng)
                blocks.append(bytes(b))
            with open(src, "wb") as f:
                f.write(b"".join(blocks))
            subprocess.run([tool, "dequantize", name, src, dst], check=True)
            got = np.fromfile(dst, dtype=np.float32)
            want = np.array([v for b in blocks for v in deq(b)], dtype=np.float32)
            same = got.shape == want.shape and np.array_equal(got.view(np.uint32),
                                                              want.view(np.uint32))
            print(f"{name}: {len(want)} values {'bit-identical' if same else 'DIFFER'}")
            if not same:
                failures += 1
                if got.shape == want.shape:
                    bad = np.nonzero(got.view(np.uint32) != want.view(np.uint32))[0]
                    print(f"  first at {bad[0]}: lmc {got[bad[0]]!r}, ggml {want[bad[0]]!r}")
        # Q8_K: random activations of several magnitudes, a zero block, ties to even.
        x = np.concatenate([
            rng.standard_normal(QK_K).astype(np.float32) * F(s) for s in (1, 1e-3, 40, 3e4)
        ] + [np.zeros(QK_K, dtype=np.float32),
             np.array([127, -63.5, 0.5, 1.5, 2.5, -2.5] * 42 + [0] * 4, dtype=np.float32)])
        x.tofile(src)
        subprocess.run([tool, "q8_k", src, dst], check=True)
        got = open(dst, "rb").read()
        want = quantize_q8_k(list(x))
        same = got == want
        print(f"q8_k: {len(x) // QK_K} blocks {'byte-identical' if same else 'DIFFER'}")
        failures += 0 if same else 1
        # Q4_K / Q5_K / Q6_K quantization: weights of several shapes and magnitudes, a block
        # of zeros, a constant block, one with a lone outlier.
        w = [rng.standard_normal(QK_K).astype(np.float32) * F(s) for s in (0.02, 1, 300)]
        w.append(np.zeros(QK_K, dtype=np.float32))
        w.append(np.full(QK_K, 0.25, dtype=np.float32))
        outlier = (rng.standard_normal(QK_K) * 0.01).astype(np.float32)
        outlier[77] = 3.0
        w.append(outlier)
        w.append(rng.uniform(0.1, 2.0, QK_K).astype(np.float32))  # all positive: min 0
        w = np.concatenate(w)
        w.tofile(src)
        for name, fn in (("q4_k", quantize_q4_k), ("q5_k", quantize_q5_k), ("q6_k", quantize_q6_k)):
            subprocess.run([tool, "quantize", name, src, dst], check=True)
            got = open(dst, "rb").read()
            values = [F(v) for v in w]
            want = b"".join(fn(values[i:i + QK_K]) for i in range(0, len(values), QK_K))
            same = got == want
            print(f"quantize {name}: {len(values) // QK_K} blocks "
                  f"{'byte-identical' if same else 'DIFFER'}")
            if not same and len(got) == len(want):
                at = next(i for i in range(len(got)) if got[i] != want[i])
                print(f"  first difference at byte {at}: lmc {got[at]}, ggml {want[at]}")
            failures += 0 if same else 1
    print(f"ggml_blocks_reference: {len(FORMATS) + 4 - failures} passed, {failures} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
