"""Maximum cardinality matching in a general graph (Edmonds' blossom algorithm).

Swiss pairing uses it as an exact oracle: "can the players still unpaired all be paired without a
rematch, and if not, with how few rematches?". O(V^3), fine for the few hundred players a Swiss
stage holds. Written after the classic formulation in e-maxx.ru "Edmonds' algorithm for maximum
matching in general graphs".
"""

from __future__ import annotations

from collections.abc import Sequence


def max_matching(n: int, adj: Sequence[Sequence[int]]) -> list[int]:
    """``match[v]`` (-1 if unmatched) of a maximum matching of the graph on vertices ``0..n-1``."""
    match = [-1] * n
    # Greedy start: most augmenting searches then end at once.
    for v in range(n):
        if match[v] == -1:
            for u in adj[v]:
                if match[u] == -1 and u != v:
                    match[v], match[u] = u, v
                    break

    def find_path(root: int) -> tuple[int, list[int]]:
        used = [False] * n
        parent = [-1] * n
        base = list(range(n))
        used[root] = True
        queue = [root]

        def lca(a: int, b: int) -> int:
            seen = [False] * n
            while True:
                a = base[a]
                seen[a] = True
                if match[a] == -1:
                    break
                a = parent[match[a]]
            while True:
                b = base[b]
                if seen[b]:
                    return b
                b = parent[match[b]]

        def mark_path(v: int, b: int, child: int, blossom: list[bool]) -> None:
            while base[v] != b:
                blossom[base[v]] = blossom[base[match[v]]] = True
                parent[v] = child
                child = match[v]
                v = parent[match[v]]

        head = 0
        while head < len(queue):
            v = queue[head]
            head += 1
            for to in adj[v]:
                if base[v] == base[to] or match[v] == to:
                    continue
                if to == root or (match[to] != -1 and parent[match[to]] != -1):
                    cur = lca(v, to)
                    blossom = [False] * n
                    mark_path(v, cur, to, blossom)
                    mark_path(to, cur, v, blossom)
                    for i in range(n):
                        if blossom[base[i]]:
                            base[i] = cur
                            if not used[i]:
                                used[i] = True
                                queue.append(i)
                elif parent[to] == -1:
                    parent[to] = v
                    if match[to] == -1:
                        return to, parent
                    used[match[to]] = True
                    queue.append(match[to])
        return -1, parent

    for v in range(n):
        if match[v] == -1:
            end, parent = find_path(v)
            while end != -1:
                pv = parent[end]
                nxt = match[pv]
                match[end], match[pv] = pv, end
                end = nxt
    return match


def matching_size(n: int, adj: Sequence[Sequence[int]]) -> int:
    """Number of edges in a maximum matching."""
    return sum(1 for v in max_matching(n, adj) if v != -1) // 2
