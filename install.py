#!/usr/bin/env python3
"""Set up obs-bgremover in a project-local virtual environment, and optionally test or demo it.

Run it from anywhere as ``python3 install.py [--dev | --test [PYTEST ARGS...] | --demo]``.

Why a script and not just ``pip install``: users of an OBS plug-in should not have to know about
virtual environments, editable installs or test extras. One command has to give the same result on
a fresh checkout and on the tenth re-run, and CI runs exactly the command the README shows. It uses
the standard library only, because it runs before anything else is installed.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent
VENV_DIR = REPO_ROOT / ".venv"
DEMO_OUTPUT = Path("out") / "sample-bokeh-drift.mp4"
MIN_PYTHON = (3, 11)
PYTEST_NO_TESTS = 5


class InstallError(Exception):
    """A step failed in a way the user can act on; main() prints the message without a traceback."""


def step(message: str) -> None:
    """Announce a step, so a long pip run is visibly part of a known sequence."""
    print(f"\n==> {message}", flush=True)


def venv_bin(name: str) -> Path:
    """Path of an executable inside the venv; Windows venvs use Scripts/ and .exe names."""
    if os.name == "nt":
        return VENV_DIR / "Scripts" / f"{name}.exe"
    return VENV_DIR / "bin" / name


def run(cmd: Sequence[str | os.PathLike[str]], what: str) -> None:
    """Run a command from the repo root; failure becomes an InstallError naming the step."""
    code = call(cmd)
    if code != 0:
        raise InstallError(
            f"{what} failed (exit code {code}).\n"
            "See the output above, and docs/troubleshooting.md for common causes."
        )


def call(cmd: Sequence[str | os.PathLike[str]]) -> int:
    """Run a command from the repo root and return its exit code.

    The repo root is the working directory so that relative paths (``.``, ``out/``) and the test
    configuration in pyproject.toml mean the same thing whatever directory the user started in.
    """
    print("    $ " + " ".join(str(part) for part in cmd), flush=True)
    env = dict(os.environ, PIP_DISABLE_PIP_VERSION_CHECK="1")
    try:
        return subprocess.call([str(part) for part in cmd], cwd=REPO_ROOT, env=env)
    except OSError as exc:
        raise InstallError(f"could not run {cmd[0]}: {exc}") from exc


def python_version(python: str) -> tuple[int, int]:
    """Ask an interpreter for its version, so an unusable --python is rejected before any work."""
    probe = "import sys; print('%d.%d' % sys.version_info[:2])"
    try:
        out = subprocess.run(
            [python, "-c", probe], capture_output=True, text=True, check=True
        ).stdout
    except (OSError, subprocess.CalledProcessError) as exc:
        raise InstallError(f"cannot run Python interpreter {python!r}: {exc}") from exc
    major, minor = out.strip().split(".")
    return int(major), int(minor)


def venv_is_usable() -> bool:
    """True if .venv has a Python with pip; a half-made venv (no pip) is rebuilt, not reused."""
    python = venv_bin("python")
    if not python.exists():
        return False
    try:
        result = subprocess.run([str(python), "-m", "pip", "--version"], capture_output=True)
    except OSError:
        return False
    return result.returncode == 0


def create_venv(python: str) -> None:
    """Create .venv with the chosen interpreter, or reuse a working one (re-runs are cheap)."""
    version = python_version(python)
    if version < MIN_PYTHON:
        raise InstallError(
            f"{python} is Python {version[0]}.{version[1]}; obs-bgremover needs "
            f"{MIN_PYTHON[0]}.{MIN_PYTHON[1]} or newer. Pass a newer one with --python PATH."
        )
    if venv_is_usable():
        step(f"Reusing the virtual environment in {VENV_DIR}")
        print("    (delete it to rebuild it, e.g. with a different --python)")
        return
    if VENV_DIR.exists():
        step(f"Removing the incomplete virtual environment in {VENV_DIR}")
        shutil.rmtree(VENV_DIR)
    step(f"Creating a virtual environment in {VENV_DIR} with {python}")
    if call([python, "-m", "venv", VENV_DIR]) != 0 or not venv_is_usable():
        shutil.rmtree(VENV_DIR, ignore_errors=True)
        minor = f"python{version[0]}.{version[1]}-venv"
        raise InstallError(
            f"could not create a virtual environment with {python}.\n"
            "On Debian/Ubuntu the venv module is a separate package; install it with\n"
            f"    sudo apt-get install python3-venv   (or {minor})\n"
            "then run this script again."
        )


def install_package(dev: bool) -> None:
    """Upgrade pip and install the checkout in editable mode.

    Editable, so the package finds models/ in this checkout and source edits take effect without
    reinstalling. Old pips cannot do PEP 660 editable installs, hence the upgrade first.
    """
    python = venv_bin("python")
    step("Upgrading pip")
    run([python, "-m", "pip", "install", "--upgrade", "pip"], "upgrading pip")
    target = ".[dev]" if dev else "."
    extra = " with the development and test tools" if dev else ""
    step(f"Installing obs-bgremover (editable){extra}")
    run([python, "-m", "pip", "install", "--editable", target], "installing obs-bgremover")


def install_redis_server() -> None:
    """Install redis-server with apt-get if it is missing: the render queue's tests start a real
    one. Without root or apt-get this only says so; those tests then skip (fail when CI is set)."""
    if shutil.which("redis-server"):
        return
    step("Installing redis-server (the render queue tests start one)")
    if not shutil.which("apt-get") or not hasattr(os, "geteuid") or os.geteuid() != 0:
        print("    skipped: this needs root and apt-get; install redis-server yourself "
              "(e.g. sudo apt-get install redis-server, or brew install redis)")
        return
    run(["apt-get", "update"], "apt-get update")
    run(["apt-get", "install", "-y", "redis-server"], "installing redis-server")


def install_obs_studio() -> None:
    """Install OBS Studio and Xvfb with apt-get if either is missing: the OBS filter's end-to-end
    tests start a real OBS on a virtual display. Without root or apt-get this only says so; those
    tests then skip (fail when CI is set)."""
    missing = [package for package, program in (("obs-studio", "obs"), ("xvfb", "Xvfb"))
               if not shutil.which(program)]
    if not missing:
        return
    step(f"Installing {' and '.join(missing)} (the OBS filter tests run a real OBS under Xvfb)")
    if not shutil.which("apt-get") or not hasattr(os, "geteuid") or os.geteuid() != 0:
        print(f"    skipped: this needs root and apt-get; install {' '.join(missing)} yourself "
              f"(e.g. sudo apt-get install {' '.join(missing)})")
        return
    run(["apt-get", "update"], "apt-get update")
    run(["apt-get", "install", "-y", *missing], f"installing {' and '.join(missing)}")


def run_tests(pytest_args: Sequence[str]) -> int:
    """Run the whole suite and return pytest's exit code; "no tests collected" counts as failure."""
    step("Running the test suite")
    code = call([venv_bin("python"), "-m", "pytest", *pytest_args])
    if code == PYTEST_NO_TESTS:
        print("error: pytest collected no tests; treating that as a failure.", file=sys.stderr)
    elif code != 0:
        print(f"error: tests failed (pytest exit code {code}).", file=sys.stderr)
    return code


def run_demo() -> None:
    """Run the main job on the built-in sample, so a new user sees it work end to end."""
    step("Running the demo: the built-in sample clip over the built-in 'bokeh-drift' background")
    program = venv_bin("obs-bgremover")
    if not program.exists():
        raise InstallError(f"{program} is missing; the install did not create the command.")
    run([program, "replace", "--sample", "--background", "bokeh-drift", "-o", DEMO_OUTPUT],
        "the demo")
    print(f"\nDemo output (the sample with its background replaced): {REPO_ROOT / DEMO_OUTPUT}")


def print_next_steps() -> None:
    """Tell the user how to use what was installed, without needing to activate anything."""
    rel_bin = venv_bin("obs-bgremover").relative_to(REPO_ROOT)
    activate = "Scripts\\activate" if os.name == "nt" else "source .venv/bin/activate"
    script = REPO_ROOT / "obs_bgremover" / "obs" / "script.py"
    print(
        "\nDone. From the project root:\n"
        f"    {rel_bin} --help\n"
        f"or activate the environment first ({activate}) and run: obs-bgremover --help\n"
        f"In OBS Studio, add this script under Tools > Scripts:\n    {script}"
    )


def parse_args(argv: Sequence[str]) -> tuple[argparse.Namespace, list[str]]:
    """Parse our options; with --test, everything we do not recognise is handed to pytest."""
    parser = argparse.ArgumentParser(
        description="Install obs-bgremover into .venv (editable), optionally test or demo it.",
        epilog="Example: python3 install.py --test -k model -x  (arguments after -- always go to "
        "pytest untouched)",
        allow_abbrev=False,  # so a pytest option is never taken for an abbreviation of ours
    )
    parser.add_argument(
        "--python",
        default=sys.executable,
        metavar="PATH",
        help="interpreter for a new .venv (default: the one running this script)",
    )
    parser.add_argument("--dev", action="store_true", help="also install the dev/test tools")
    parser.add_argument(
        "--test",
        action="store_true",
        help="--dev, then run pytest; remaining arguments go to pytest; exits with its code",
    )
    parser.add_argument(
        "--demo", action="store_true", help="after installing, run the matte job on the sample"
    )
    argv = list(argv)
    # Split at "--" ourselves: argparse keeps or drops it depending on position, and pytest would
    # read a stray "--" as the end of its own options.
    after: list[str] = []
    if "--" in argv:
        cut = argv.index("--")
        argv, after = argv[:cut], argv[cut + 1 :]
    args, rest = parser.parse_known_args(argv)
    rest += after
    if rest and not args.test:
        parser.error(f"unrecognized arguments: {' '.join(rest)} (only --test passes arguments on)")
    return args, rest


def main(argv: Sequence[str] | None = None) -> int:
    """Run the requested steps in order and return the process exit code."""
    args, pytest_args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        create_venv(args.python)
        install_package(dev=args.dev or args.test)
        if args.test:
            install_redis_server()
            install_obs_studio()
            code = run_tests(pytest_args)
            if code != 0:
                return code
        if args.demo:
            run_demo()
    except InstallError as exc:
        print(f"\nerror: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130
    print_next_steps()
    return 0


if __name__ == "__main__":
    sys.exit(main())
