#!/usr/bin/env python
"""Launch an MXNet dist_sync job: one scheduler, the servers and the workers (see docs/distributed.md).

Example: python scripts/launch_dist.py -n 2 -s 1 -- python scripts/train_wgan.py --kvstore dist_sync
"""
import argparse
import logging
import shlex
import sys

from gluon_wgan.utils.oneline import OneLineParser


def build_parser():
    parser = OneLineParser(
        prog="launch_dist.py",
        usage="launch_dist.py -n WORKERS [-s SERVERS] [--launcher local|ssh] [-H HOSTFILE] [options] -- "
              "COMMAND ...",
        description="Start MXNet's parameter-server job for kvstore 'dist_sync': one scheduler (on this "
                    "machine), the servers and the workers, each running COMMAND with DMLC_ROLE, "
                    "DMLC_PS_ROOT_URI, DMLC_PS_ROOT_PORT, DMLC_NUM_SERVER, DMLC_NUM_WORKER (and "
                    "DMLC_NODE_HOST) set. Waits for the workers; exits with 0 if all succeeded, else with "
                    "the failing process's code after stopping the others. Ctrl-C and SIGTERM are "
                    "forwarded to the workers; a second one also stops the scheduler and servers.",
        epilog="Replaces mxnet/tools/launch.py, whose bundled dmlc_tracker fails on Python >= 3.9.",
        formatter_class=lambda prog: argparse.HelpFormatter(prog, max_help_position=28, width=100))
    parser.add_argument("-n", "--num-workers", type=int, required=True, help="worker processes")
    parser.add_argument("-s", "--num-servers", type=int, default=None,
                        help="server processes (default: as many as workers, like MXNet's launcher)")
    parser.add_argument("--launcher", choices=("local", "ssh"), default="local",
                        help="local: every process on this machine; ssh: servers and workers round-robin "
                             "over the hosts file, the scheduler here (default: %(default)s)")
    parser.add_argument("-H", "--hostfile", default=None,
                        help="ssh: one host or host:ssh_port a line (# comments)")
    parser.add_argument("--scheduler-host", default=None,
                        help="address of this machine as the nodes reach it (default: 127.0.0.1 for "
                             "local, the outward interface's address for ssh)")
    parser.add_argument("--port", type=int, default=None, help="scheduler port (default: a free port)")
    parser.add_argument("--workdir", default=None,
                        help="ssh: folder the command starts in on each host (default: this folder)")
    parser.add_argument("--env", action="append", default=[], metavar="NAME[=VALUE]",
                        help="ssh: also export NAME (its value here, or VALUE) on the hosts; repeatable")
    parser.add_argument("--grace", type=float, default=10.0,
                        help="seconds between SIGTERM and SIGKILL when stopping processes, and how long the "
                             "scheduler and servers may outlive the workers (default: %(default)s)")
    parser.add_argument("--dry-run", action="store_true",
                        help="print each process's role, environment and command line, start nothing")
    return parser


def parse_args(argv):
    """Options before `--`, the command after it (a command without `--` works when it has no flags)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    if "--" in argv:
        split = argv.index("--")
        argv, command = argv[:split], argv[split + 1:]
        args = parser.parse_args(argv)
    else:
        args, command = parser.parse_known_args(argv)
    args.command = command
    return parser, args


def main(argv=None):
    parser, args = parse_args(argv)
    import os

    from gluon_wgan.tools.launch import FORWARDED_ENV, plan, read_hostfile, run

    try:
        hosts = read_hostfile(args.hostfile) if args.hostfile else None
        extra_env = None
        if args.env:
            extra_env = {k: os.environ[k] for k in FORWARDED_ENV if k in os.environ}
            for item in args.env:
                name, eq, value = item.partition("=")
                if not eq and name not in os.environ:
                    raise ValueError(f"--env {name}: not set here; give NAME=VALUE")
                extra_env[name] = value if eq else os.environ[name]
        nodes = plan(args.command, args.num_workers, args.num_servers or args.num_workers,
                     launcher=args.launcher, hosts=hosts, root_uri=args.scheduler_host, root_port=args.port,
                     workdir=args.workdir, extra_env=extra_env)
    except ValueError as err:
        parser.error(str(err))
    if args.dry_run:  # one copy-pasteable line per process
        for node in nodes:
            shown = node.argv if node.host else ["env", *(f"{k}={v}" for k, v in node.env.items()), *node.argv]
            print(f"{node.role} {node.rank}: {shlex.join(shown)}")
        return 0
    logging.basicConfig(level=logging.INFO, format="launch_dist.py: %(message)s")
    try:
        return run(nodes, grace=args.grace)
    except ValueError as err:   # a process could not be started
        parser.error(str(err))


if __name__ == "__main__":
    sys.exit(main())
