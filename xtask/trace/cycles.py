#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
"""Where each cyclictest cycle's latency goes, from the traces a wrap-trace.sh wrapper printed into a VM log.

Usage: cycles.py VM_LOG_EXCERPT   (the lines from one TRACE-OURS to its TRACE-END; sed -n A,Bp on the log)

For the scheduler's trace and the default scheduler's, per cycle of cyclictest's measuring thread: timer expiry
(hrtimer_start's expires) -> hrtimer_expire_entry (hx) -> sched_waking (wk) -> switched in (sw) ->
clock_nanosleep returns (ret), with the median and mean of each step in microseconds.
"""
import re, sys, statistics as st
def parse(lines):
    ev=[]
    for l in lines:
        l=l[3:].rstrip()
        m=re.match(r'\s*(.+?)-(\d+)\s+\[(\d+)\]\s+\S+\s+([\d.]+): (\S+?)(?::? (.*)|(\(.*))$',l)
        if not m: continue
        comm,pid,cpu,ts,name,rest,par=m.groups(); rest=rest if rest is not None else par
        ev.append((float(ts)*1e6,int(cpu),name.rstrip(':'),rest,comm,int(pid)))
    return ev
def analyse(ev,label):
    cyc=[e for e in ev if e[2]=='hrtimer_start' and e[4]=='cyclictest' and 'hrtimer_wakeup' in e[3]]
    rows=[]
    for (t,cpu,n,r,c,pid) in cyc:
        exp=int(re.search(r'expires=(\d+)',r).group(1))/1000.0
        hr=re.search(r'hrtimer=(\S+)',r).group(1)
        st_={'exp':exp}
        for (t2,c2,n2,r2,cm2,p2) in ev:
            if t2<t: continue
            if t2>exp+30000: break
            if n2=='local_timer_entry' and c2==cpu and t2>=exp-5 and 'irq' not in st_: st_['irq']=t2
            if n2=='hrtimer_expire_entry' and hr in r2 and 'hx' not in st_: st_['hx']=t2
            if n2=='sched_waking' and 'pid=%d '%pid in r2 and 'wk' not in st_ and t2>=exp-5: st_['wk']=t2
            if n2=='sched_switch' and 'next_pid=%d '%pid in r2 and 'wk' in st_ and 'sw' not in st_: st_['sw']=t2
            if n2=='sys_clock_nanosleep' and p2==pid and 'sw' in st_: st_['ret']=t2; break
        if all(k in st_ for k in ('hx','wk','sw','ret')): rows.append(st_)
    print('==',label,len(rows),'cycles')
    segs=[('exp','hx'),('hx','wk'),('wk','sw'),('sw','ret'),('exp','ret')]
    for a,b in segs:
        d=[s[b]-s[a] for s in rows]
        print('  %4s->%-4s p50 %6.0f mean %6.0f'%(a,b,st.median(d),st.mean(d)))
    d=[s['irq']-s['exp'] for s in rows if 'irq' in s]
    if d: print('  exp->irq  p50 %6.0f mean %6.0f (n=%d)'%(st.median(d),st.mean(d),len(d)))
lines=open(sys.argv[1]).read().split('\n')
sec=None; parts={}
for l in lines:
    if 'TRACE-OURS' in l: sec='ours'; parts[sec]=[]
    elif 'TRACE-DEFAULT' in l: sec='default'; parts[sec]=[]
    elif 'TRACE-END' in l: sec=None
    elif sec and l.startswith('TR '): parts[sec].append(l)
for k,v in parts.items(): analyse(parse(v),k)
