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
.state-committed{color:#070}.state-rolled-back{color:#777}.state-pending,.state-rolling-back{color:#b60;font-weight:600}
`.trim();
