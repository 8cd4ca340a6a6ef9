/** The ops page's one stylesheet, served by the hook itself (the page needs none of the app's assets). */
export const OPS_CSS = `
body{font:14px/1.4 system-ui,sans-serif;margin:0;color:#222;background:#fafafa}
header{background:#233;color:#fff;padding:8px 16px;display:flex;gap:16px;align-items:center}
header a{color:#fff;text-decoration:none}header .actor{margin-left:auto;opacity:.85}
main{padding:16px}h1{font-size:20px}h2{font-size:16px;margin-top:24px}
table{border-collapse:collapse;margin:8px 0 16px;background:#fff}
th,td{border:1px solid #ddd;padding:3px 8px;text-align:left;vertical-align:top}
th{background:#eee}td.num{text-align:right;font-variant-numeric:tabular-nums}
.changed{background:#ffd}pre{margin:0;white-space:pre-wrap;word-break:break-all;max-width:560px}
.notice{padding:8px;margin-bottom:12px;border:1px solid #9c9;background:#efe}
.error{padding:8px;border:1px solid #c99;background:#fee}.bad{color:#b00;font-weight:600}
form.inline{display:inline}input,select,button{font:inherit}
form.filters label{margin-right:10px}.pager a{margin-right:12px}
.badge{display:inline-block;padding:1px 7px;border-radius:9px;border:1px solid;font-size:12px;font-weight:600;white-space:nowrap}
.state-pending{background:#fff3cd;color:#6b4700;border-color:#e0b100}.state-rolling-back{background:#ffe2cc;color:#7a3300;border-color:#e07b30}
.state-committed{background:#d7f0df;color:#0f5132;border-color:#5cb37a}.state-rolled-back{background:#e6e7e9;color:#3d4247;border-color:#a3a8ad}
.state-stuck{background:#f8d7da;color:#842029;border-color:#d9534f}.state-attention{background:#eadcfb;color:#4b1f7a;border-color:#9a6bd1}
.action-rolled-back{background:#e6e7e9;color:#3d4247;border-color:#a3a8ad}.action-committed{background:#d7f0df;color:#0f5132;border-color:#5cb37a}.action-none{background:#fff;color:#555;border-color:#bbb;border-style:dashed}
ul.counts{list-style:none;padding:0;margin:0 0 8px;display:flex;flex-wrap:wrap;gap:8px}
ul.counts a{display:inline-flex;gap:6px;align-items:center;padding:4px 8px;border:1px solid #ddd;border-radius:6px;background:#fff;color:inherit;text-decoration:none}
ul.counts b.count{font-size:16px;font-variant-numeric:tabular-nums}
.refresh{margin:4px 0 12px;color:#555}.refresh a,.refresh b{margin:0 2px}
.step-body{display:flex;flex-wrap:wrap;gap:12px;align-items:flex-start}
details.json-view{background:#fff;border:1px solid #ddd;padding:4px 8px;margin:8px 0 16px;max-width:620px}
details.json-view h4{margin:6px 0 2px;font-size:13px}details.json-view pre{background:#f6f6f6;padding:4px;user-select:all}
form.bulk{margin:8px 0}
`.trim();
