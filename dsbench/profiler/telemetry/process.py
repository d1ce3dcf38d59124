"""The monitored command's process tree, through psutil."""

from __future__ import annotations


def process_tree(root_pid: int) -> list:
    """``psutil.Process`` objects of ``root_pid`` and all its descendants still alive."""
    import psutil

    try:
        root = psutil.Process(root_pid)
        return [root, *root.children(recursive=True)]
    except psutil.Error:
        return []


def process_tree_pids(root_pid: int) -> set[int]:
    return {p.pid for p in process_tree(root_pid)}
