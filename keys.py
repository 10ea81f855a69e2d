import json,sys
def walk(v,p,out):
    if isinstance(v,dict):
        for k,x in v.items(): walk(x,p+"."+k,out)
    elif isinstance(v,list):
        for x in v[:2]: walk(x,p+"[]",out)
        if not v: out.append(p+"=[]")
    else: out.append(p+":"+type(v).__name__)
out=[]; walk(json.load(open(sys.argv[1])),"",out); print("\n".join(out))
