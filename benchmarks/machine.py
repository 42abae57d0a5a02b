"""The line every benchmark prints about the machine it ran on."""
from __future__ import annotations

#: Flags (prefixes) of the SIMD extensions that decide which kernels run.
SIMD_PREFIXES = ("sse", "ssse", "avx", "fma", "amx", "vnni", "f16c")


def cpu_description() -> str:
    """CPU model, vendor, cores available to this process and SIMD flags (from ``/proc/cpuinfo``)."""
    from paddle_ernie_m.runtime import available_cores, cpu_info

    model = "unknown CPU"
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            model = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), model)
    except OSError:
        pass
    vendor, flags = cpu_info()
    simd = sorted(flag for flag in flags if flag.startswith(SIMD_PREFIXES))
    return (f"{model} ({vendor or 'unknown vendor'}), {available_cores()} core(s) available; "
            f"SIMD: {' '.join(simd) or 'none listed'}")
