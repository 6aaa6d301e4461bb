#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
"""The user-space round trip of each cyclictest wakeup, from a trace a wrap-trace.sh wrapper printed.

Usage: wakeups.py TRACE_LINES SCHED_COMM [SLOW_US]

Per wakeup of cyclictest that went through the scheduler thread (comm SCHED_COMM): waking -> the scheduler's own
waking (swake, if it slept) -> scheduler switched in (son) -> its syscall returns (sret: epoll_wait or
sched_yield) -> it enters the next one (senter: the round's user-space work in between) -> cyclictest switched in
(run). With SLOW_US, prints the events of up to four wakeups whose senter -> run step took longer.
"""
import re, sys, statistics as st
text=open(sys.argv[1]).read().split('TRACE-DEFAULT')[0]  # only the scheduler's own trace
lines=[l[3:] for l in text.split('\n') if l.startswith('TR ')]
sched=sys.argv[2]  # scheduler comm
ev=[]
for l in lines:
    m=re.match(r'\s*(.+?)-(\d+)\s+\[(\d+)\]\s+\S+\s+([\d.]+): (\S+?)(?::? (.*)|(\(.*))$',l.rstrip())
    if not m: continue
    comm,pid,cpu,ts,name,rest,par=m.groups(); rest=rest if rest is not None else par; ev.append((float(ts)*1e6,int(cpu),name,rest,comm))
res=[]
i=0
for k,(t,cpu,name,rest,comm) in enumerate(ev):
    if name=='sched_waking' and 'comm=cyclictest' in rest:
        steps={'wake':t}
        for (t2,c2,n2,r2,cm2) in ev[k+1:k+60]:
            if n2=='sched_waking' and 'comm='+sched in r2 and 'swake' not in steps: steps['swake']=t2
            if n2=='sched_switch' and 'next_comm='+sched in r2 and 'son' not in steps: steps['son']=t2
            if cm2==sched and n2.startswith('sys_') and '->' in r2 and 'son' in steps and 'sret' not in steps: steps['sret']=t2
            if cm2==sched and n2.startswith('sys_') and r2.startswith('(') and 'sret' in steps and 'senter' not in steps: steps['senter']=t2
            if n2=='sched_switch' and 'next_comm=cyclictest' in r2: steps['run']=t2; break
        if 'run' in steps: res.append(steps)
print(len(res),'wakeups')
tot=[s['run']-s['wake'] for s in res]
print('total p50 %.0f mean %.0f'%(st.median(tot),st.mean(tot)))
via=[s for s in res if 'son' in s and s['son']<s['run']]
print('via scheduler:',len(via))
for a,b in [('wake','swake'),('wake','son'),('son','sret'),('sret','senter'),('senter','run')]:
    d=[s[b]-s[a] for s in via if a in s and b in s]
    if d: print('%6s->%-6s n=%3d p50 %6.0f mean %6.0f'%(a,b,len(d),st.median(d),st.mean(d)))
d=[s['run']-s['wake'] for s in res if not ('son' in s and s['son']<s['run'])]
if d: print('direct n=%d p50 %.0f mean %.0f'%(len(d),st.median(d),st.mean(d)))
if len(sys.argv)>3:
    thr=float(sys.argv[3]); n=0
    for s in via:
        if 'senter' in s and s['run']-s['senter']>thr and n<4:
            n+=1; print('---- slow: senter->run %.0f'%(s['run']-s['senter']))
            for (t2,c2,n2,r2,cm2) in ev:
                if s['wake']-5<=t2<=s['run']+1: print('%10.0f [%d] %-14s %s %s'%(t2-s['wake'],c2,cm2,n2,r2[:110]))
