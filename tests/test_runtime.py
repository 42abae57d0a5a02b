"""Process-wide runtime settings: reading /proc/cpuinfo, and pointing Paddle's MKL at its AVX2 kernels on AMD."""
import os
import subprocess
import sys

import pytest

from paddle_ernie_m.runtime import MKL_CPU_TYPE_VARIABLE, cpu_info, select_mkl_avx2_path

CPUINFO = """processor\t: 0
vendor_id\t: AuthenticAMD
cpu family\t: 25
model name\t: AMD EPYC
flags\t\t: fpu vme sse2 avx fma avx2 bmi2

processor\t: 1
vendor_id\t: AuthenticAMD
flags\t\t: fpu
"""
AMD_AVX2 = ("AuthenticAMD", frozenset({"avx", "avx2", "fma"}))


def test_cpu_info_reads_vendor_and_flags_of_the_first_cpu(tmp_path):
    path = tmp_path / "cpuinfo"
    path.write_text(CPUINFO)
    assert cpu_info(str(path)) == ("AuthenticAMD", frozenset({"fpu", "vme", "sse2", "avx", "fma", "avx2", "bmi2"}))
    assert cpu_info(str(tmp_path / "missing")) == ("", frozenset())


@pytest.mark.parametrize("info, expected", [
    (AMD_AVX2, True),
    (("GenuineIntel", frozenset({"avx", "avx2", "fma"})), False),  # MKL already picks its best path on Intel
    (("AuthenticAMD", frozenset({"avx", "sse2"})), False),  # no AVX2: the AVX2 path would crash
    (("", frozenset()), False),  # no /proc/cpuinfo
])
def test_mkl_avx2_path_is_selected_only_on_amd_cpus_with_avx2(info, expected):
    environ = {}
    assert select_mkl_avx2_path(environ, info) is expected
    assert environ == ({MKL_CPU_TYPE_VARIABLE: "5"} if expected else {})


def test_mkl_cpu_type_set_by_the_user_is_left_alone():
    environ = {MKL_CPU_TYPE_VARIABLE: "2"}
    assert not select_mkl_avx2_path(environ, AMD_AVX2)
    assert environ == {MKL_CPU_TYPE_VARIABLE: "2"}


def test_importing_the_package_applies_the_choice_without_importing_paddle():
    code = ("import os, sys, paddle_ernie_m; "
            "print(os.environ.get('MKL_DEBUG_CPU_TYPE'), 'paddle' in sys.modules)")
    env = {k: v for k, v in os.environ.items() if k != MKL_CPU_TYPE_VARIABLE}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout
    expected = "5" if select_mkl_avx2_path({}, cpu_info()) else "None"
    assert out.split() == [expected, "False"]
    env[MKL_CPU_TYPE_VARIABLE] = "3"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout
    assert out.split() == ["3", "False"]


def test_device_spellings_resolve_to_cpu_or_a_visible_gpu_and_others_are_refused_naming_them():
    from paddle_ernie_m.runtime import resolve_device

    assert resolve_device(None, 0, "none") == "cpu"
    assert resolve_device(None, 2, "none") == "gpu:0"
    assert resolve_device(None, 2, "none", prefer_gpu=False) == "cpu"
    assert resolve_device("cpu", 2, "none") == "cpu"
    assert resolve_device("gpu", 2, "none") == "gpu:0"
    assert resolve_device("cuda:1", 2, "none") == "gpu:1"
    for device, gpus, message in (("gpu", 0, "device 'gpu': no CUDA here"),
                                  ("gpu:2", 2, r"device 'gpu:2': only 2 GPU\(s\) visible"),
                                  ("tpu:0", 2, "device must be 'cpu', 'gpu' or 'gpu:N', got 'tpu:0'"),
                                  ("cpu:1", 2, "got 'cpu:1'")):
        with pytest.raises(ValueError, match=message):
            resolve_device(device, gpus, "no CUDA here")
