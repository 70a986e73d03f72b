#!/usr/bin/env python3
"""Functions longer than a limit in C++ sources: the house's rule is none over 80 lines (docs/ARCHITECTURE.md).

    scripts/function_length.py SRC_DIR [LIMIT]

A function is a brace block after a parameter list (ignoring comments, strings and raw strings) that is not
inside another function; lambdas count with the function around them. Prints each one over LIMIT with its
line and length, and exits 1 when there is one. Run by ctest (function_length)."""
import os
import re
import sys


def strip(s):
    out=[];i=0;n=len(s)
    while i<n:
        c=s[i]
        if s.startswith('//',i):
            j=s.find('\n',i); j=n if j<0 else j; out.append(' '*(j-i)); i=j
        elif s.startswith('/*',i):
            j=s.find('*/',i)+2; out.append(re.sub(r'[^\n]',' ',s[i:j])); i=j
        elif s.startswith('R"',i):
            m=re.match(r'R"([^(]*)\(',s[i:]); d=m.group(1); j=s.find(')'+d+'"',i)+len(d)+2
            out.append(re.sub(r'[^\n]',' ',s[i:j])); i=j
        elif c in '"\'':
            j=i+1
            while j<n and s[j]!=c:
                j+= 2 if s[j]=='\\' else 1
            out.append(c+' '*(j-i-1)+c); i=j+1
        else: out.append(c); i+=1
    return ''.join(out)

def long_functions(root_dir, limit):
    found = []
    for root, _, files in os.walk(root_dir):
        for f in sorted(files):
            if not f.endswith(('.cpp', '.h')):
                continue
            p = os.path.join(root, f)
            s = strip(open(p, encoding='utf-8', errors='replace').read())
            stack = []
            for m in re.finditer(r'[{}]', s):
                if m.group() == '{':
                    head = s[max(0, m.start() - 300):m.start()]
                    head = head[head.rfind(';') + 1:] if ';' in head else head
                    t = re.split(r'[{}]', head)[-1][-200:].rstrip()
                    t = re.sub(r'->[^()]*$', '', t).rstrip()
                    for kw in ('mutable', 'override', 'noexcept', 'const'):
                        if t.endswith(kw):
                            t = t[:-len(kw)].rstrip()
                    is_function = t.endswith(')') and not re.search(r'\b(if|for|while|switch|catch)\s*\(', t.split('\n')[-1])
                    stack.append((m.start(), is_function))
                elif stack:
                    start, is_function = stack.pop()
                    if is_function and not any(x[1] for x in stack):
                        lines = s.count('\n', start, m.start()) + 1
                        if lines > limit:
                            found.append(f"{p}:{s.count(chr(10), 0, start) + 1}: a function of {lines} lines")
    return found


if __name__ == '__main__':
    limit = int(sys.argv[2]) if len(sys.argv) > 2 else 80
    found = long_functions(sys.argv[1], limit)
    for line in found:
        print(line)
    print(f"{len(found)} function(s) over {limit} lines")
    sys.exit(1 if found else 0)
