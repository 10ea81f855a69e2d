// The dashboard's script: polls the monitoring endpoints beside the page
// and renders rates, sparklines and tables. Plain ES2017, no dependency.
(function () {
  "use strict";
  var interval = parseInt(document.body.getAttribute("data-interval"), 10) || 1000;
  var keep = 120; // points per sparkline
  var hist = { inMsgs: [], outMsgs: [], inBytes: [], outBytes: [], conns: [], slow: [] };
  var last = null;
  var polls = 0;

  function $(id) { return document.getElementById(id); }
  function fmt(n) {
    if (typeof n !== "number" || !isFinite(n)) return "-";
    var a = Math.abs(n);
    if (a >= 1e9) return (n / 1e9).toFixed(2) + "G";
    if (a >= 1e6) return (n / 1e6).toFixed(2) + "M";
    if (a >= 1e4) return (n / 1e3).toFixed(1) + "k";
    return String(Math.round(n * 10) / 10);
  }
  function text(id, v) { var e = $(id); if (e) e.textContent = v; }
  function push(a, v) { a.push(v); if (a.length > keep) a.shift(); }
  function spark(id, a) {
    var svg = $(id);
    if (!svg || a.length === 0) return;
    var hi = Math.max.apply(null, a.concat([1]));
    var pts = a.map(function (v, i) {
      var x = a.length === 1 ? 120 : (i * 120) / (a.length - 1);
      return x.toFixed(1) + "," + (46 - (v / hi) * 44).toFixed(1);
    });
    svg.firstElementChild.setAttribute("points", pts.join(" "));
  }
  function get(path) {
    return fetch(path, { cache: "no-store" }).then(function (r) {
      if (!r.ok) throw new Error(path + ": " + r.status);
      return r.json();
    });
  }
  function cell(v, num) {
    var td = document.createElement("td");
    if (num) td.className = "n";
    td.textContent = v === undefined || v === null ? "" : (num ? fmt(v) : String(v));
    return td;
  }
  function table(id, rows, cols) {
    var body = $(id).tBodies[0];
    body.textContent = "";
    if (rows.length === 0) {
      var tr = document.createElement("tr"), td = document.createElement("td");
      td.colSpan = cols; td.className = "empty"; td.textContent = "none";
      tr.appendChild(td); body.appendChild(tr);
      return;
    }
    rows.forEach(function (r) {
      var tr = document.createElement("tr");
      r.forEach(function (c) { tr.appendChild(cell(c[0], c[1])); });
      body.appendChild(tr);
    });
  }

  function varz(v) {
    var now = Date.parse(v.now);
    if (last) {
      var dt = Math.max((now - last.t) / 1000, 0.001);
      var rate = function (k) { return Math.max(0, (v[k] - last.v[k]) / dt); };
      push(hist.inMsgs, rate("in_msgs")); push(hist.outMsgs, rate("out_msgs"));
      push(hist.inBytes, rate("in_bytes")); push(hist.outBytes, rate("out_bytes"));
      text("in-msg-rate", fmt(rate("in_msgs"))); text("out-msg-rate", fmt(rate("out_msgs")));
      text("in-byte-rate", fmt(rate("in_bytes"))); text("out-byte-rate", fmt(rate("out_bytes")));
    }
    push(hist.conns, v.connections); push(hist.slow, v.slow_consumers);
    last = { t: now, v: v };
    text("in-msgs", v.in_msgs); text("out-msgs", v.out_msgs);
    text("in-bytes", v.in_bytes); text("out-bytes", v.out_bytes);
    text("connections", v.connections); text("total-connections", v.total_connections);
    text("subscriptions", v.subscriptions); text("slow-consumers", v.slow_consumers);
    text("mem", fmt(v.mem)); text("cpu", v.cpu); text("uptime", v.uptime);
    spark("spark-in-msgs", hist.inMsgs); spark("spark-out-msgs", hist.outMsgs);
    spark("spark-in-bytes", hist.inBytes); spark("spark-out-bytes", hist.outBytes);
    spark("spark-conns", hist.conns); spark("spark-slow", hist.slow);
  }
  function connz(c) {
    table("top-conns", (c.connections || []).map(function (x) {
      return [[x.cid, false], [x.name, false], [x.ip + ":" + x.port, false], [x.in_msgs, true], [x.out_msgs, true],
        [x.in_bytes, true], [x.out_bytes, true], [x.pending_bytes, true], [x.subscriptions, true]];
    }), 9);
  }
  function routez(r) {
    table("routes", (r.routes || []).map(function (x) {
      return [[x.rid, false], [x.remote_name || x.remote_id, false], [x.ip + ":" + x.port, false],
        [x.in_msgs, true], [x.out_msgs, true], [x.pending_size, true], [x.rtt, false]];
    }), 7);
  }
  function gatewayz(g) {
    var rows = [];
    Object.keys(g.outbound_gateways || {}).forEach(function (n) {
      var c = g.outbound_gateways[n].connection || {};
      rows.push([["outbound", false], [n, false], [c.in_msgs, true], [c.out_msgs, true], [c.rtt, false]]);
    });
    Object.keys(g.inbound_gateways || {}).forEach(function (n) {
      (g.inbound_gateways[n] || []).forEach(function (e) {
        var c = e.connection || {};
        rows.push([["inbound", false], [n, false], [c.in_msgs, true], [c.out_msgs, true], [c.rtt, false]]);
      });
    });
    table("gateways", rows, 5);
  }
  function leafz(l) {
    table("leafs", (l.leafs || []).map(function (x) {
      return [[x.name, false], [x.account, false], [x.ip + ":" + x.port, false], [x.in_msgs, true],
        [x.out_msgs, true], [x.subscriptions, true], [x.rtt, false]];
    }), 7);
  }
  function jsz(j) {
    var streams = [], consumers = [];
    (j.account_details || []).forEach(function (a) {
      (a.stream_detail || []).forEach(function (s) {
        var st = s.state || {};
        streams.push([[a.name, false], [s.name, false], [st.messages, true], [st.bytes, true],
          [st.first_seq, true], [st.last_seq, true], [st.consumer_count, true]]);
        (s.consumer_detail || []).forEach(function (c) {
          consumers.push([[s.name, false], [c.name, false], [c.num_pending, true], [c.num_ack_pending, true],
            [c.num_redelivered, true], [c.num_waiting, true]]);
        });
      });
    });
    table("streams", streams, 7);
    table("consumers", consumers, 6);
  }
  function healthz(h) {
    var e = $("health");
    e.textContent = "health: " + h.status;
    e.className = h.status === "ok" ? "ok" : "bad";
  }

  function poll() {
    var tasks = [
      get("./varz").then(varz),
      get("./connz?sort=msgs_from&limit=10").then(connz),
      get("./routez").then(routez),
      get("./gatewayz").then(gatewayz),
      get("./leafz").then(leafz),
      get("./jsz?streams=true&consumers=true").then(jsz),
      fetch("./healthz", { cache: "no-store" }).then(function (r) { return r.json(); }).then(healthz)
    ];
    Promise.all(tasks.map(function (p) { return p.catch(function (e) { console.warn(e); }); })).then(function () {
      polls++;
      var p = $("polls");
      p.setAttribute("data-polls", String(polls));
      p.textContent = polls + " updates";
      setTimeout(poll, interval);
    });
  }
  poll();
})();
