"""The layout's two rules, checked on src/ (LAYOUT.md, issue 22):

1. No import circle between the top-level modules of src/: `crate::x` paths outside comments
   and `#[cfg(test)]` modules are the edges; Tarjan's algorithm finds the circles.
2. No source file over 400 lines, in src/, in a store crate's stores/*/src/ or in host/src/, unless its
   first doc lines (`//!`) say why, in a line that starts `//! Why this file is long:`.

Run from the repository root: `python3 scripts/layout_check.py` (`-v` prints the edges).
Exits 1 and names what broke a rule.
"""
import re, glob, os, sys
mods={}
for f in glob.glob('src/**/*.rs',recursive=True):
    rel=os.path.relpath(f,'src')
    top=rel.split('/')[0].replace('.rs','')
    if top=='lib': continue
    mods.setdefault(top,set())
    txt=open(f).read()
    # strip comments
    txt=re.sub(r'//.*','',txt)
    # drop test modules crudely
    i=txt.find('#[cfg(test)]')
    if i>=0: txt=txt[:i]
    for m in re.finditer(r'crate::(\w+)',txt):
        mods[top].add(m.group(1))
    for m in re.finditer(r'use crate::\{([^;]*)\}',txt,re.S):
        for part in re.findall(r'(?:^|[,{\s])(\w+)(?=::|\s*[,}]|\s*$)',m.group(1)):
            mods[top].add(part)
names=set(mods)
g={a:{b for b in bs if b in names and b!=a} for a,bs in mods.items()}
# tarjan
idx={};low={};st=[];on=set();out=[];c=[0]
def sc(v):
    idx[v]=low[v]=c[0];c[0]+=1;st.append(v);on.add(v)
    for w in g[v]:
        if w not in idx: sc(w);low[v]=min(low[v],low[w])
        elif w in on: low[v]=min(low[v],idx[w])
    if low[v]==idx[v]:
        comp=[]
        while True:
            w=st.pop();on.discard(w);comp.append(w)
            if w==v:break
        out.append(comp)
sys.setrecursionlimit(10000)
for v in g:
    if v not in idx: sc(v)
cyc=[sorted(c) for c in out if len(c)>1]
print(len(cyc), 'import circles between top-level modules', cyc)
long = []
for f in sorted(glob.glob('src/**/*.rs', recursive=True) + glob.glob('stores/*/src/**/*.rs', recursive=True) + glob.glob('host/src/**/*.rs', recursive=True)):
    lines = open(f).read().split('\n')
    if len(lines) - 1 <= 400:
        continue
    head = []
    for line in lines:
        if not line.startswith('//!'):
            break
        head.append(line)
    if not any(l.startswith('//! Why this file is long:') for l in head):
        long.append((f, len(lines) - 1))
print(len(long), 'files over 400 lines that do not say why', long)
if '-v' in sys.argv:
    for a in sorted(g): print(a,'->',sorted(g[a]))

if cyc or long:
    sys.exit(1)
