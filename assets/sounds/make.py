#!/usr/bin/env python3
"""Writes the built-in alarm sounds, one per priority (python3 make.py; standard library only).

Each file is one cycle of its pattern; Watchfloor loops it while an alarm of that priority waits for an
acknowledgement. The more urgent, the higher, faster and denser the pulses (after IEC 60601-1-8's idea of
high/medium/low priority bursts), so an operator tells them apart without looking:

- urgent.wav: 1.0 s, ten short pulses alternating 988 and 784 Hz (a two-tone horn).
- high.wav:   1.5 s, three pulses at 880 Hz, then a pause.
- medium.wav: 2.5 s, two pulses at 659 Hz, then a pause.
- low.wav:    4.0 s, one soft chime at 523 Hz decaying, then a pause.

Mono, 16 bit, 22,050 Hz. Tones carry their odd harmonics (a square-ish timbre that cuts through room noise),
with 10 ms ramps so no pulse clicks.
"""
import math
import struct
import wave

RATE = 22050


def tone(freq, seconds, amplitude, decay=0.0):
    n = int(RATE * seconds)
    ramp = int(RATE * 0.010)
    out = []
    for i in range(n):
        t = i / RATE
        v = sum(math.sin(2 * math.pi * freq * k * t) / k for k in (1, 3, 5))
        env = min(1.0, i / ramp, (n - 1 - i) / ramp) if ramp else 1.0
        if decay:
            env *= math.exp(-decay * t)
        out.append(amplitude * 0.75 * v * env)
    return out


def gap(seconds):
    return [0.0] * int(RATE * seconds)


def write(name, samples):
    with wave.open(name, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(b"".join(struct.pack("<h", int(max(-1.0, min(1.0, s)) * 32000)) for s in samples))


urgent = []
for k in range(10):
    urgent += tone(988 if k % 2 == 0 else 784, 0.06, 0.9) + gap(0.04)
write("urgent.wav", urgent)

high = []
for _ in range(3):
    high += tone(880, 0.15, 0.8) + gap(0.10)
write("high.wav", high + gap(1.5 - len(high) / RATE))

medium = tone(659, 0.20, 0.7) + gap(0.15) + tone(659, 0.20, 0.7)
write("medium.wav", medium + gap(2.5 - len(medium) / RATE))

low = tone(523, 0.8, 0.6, decay=4.0)
write("low.wav", low + gap(4.0 - len(low) / RATE))
