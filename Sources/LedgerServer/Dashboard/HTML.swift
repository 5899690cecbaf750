import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

extension HTTPField.Name {
    /// `Referrer-Policy`, which HTTPTypes does not name.
    static let referrerPolicy = Self("Referrer-Policy")!
}

/// Small helpers for server-rendered pages: escaping for the charts, number formats, the page shell.
enum HTML {
    /// Escapes text for element content and quoted attribute values.
    static func escape(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for character in text {
            switch character {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.append(character)
            }
        }
        return out
    }

    static func percent(_ value: Double?, digits: Int = 1) -> String {
        guard let value else { return "–" }
        return String(format: "%.\(digits)f %%", value * 100)
    }

    static func number(_ value: Double, digits: Int = 1) -> String { String(format: "%.\(digits)f", value) }

    /// A count with thousands separators (a thin space, as style guides for figures suggest).
    static func count(_ value: some BinaryInteger) -> String {
        let digits = String(value)
        var out = ""
        for (index, character) in digits.enumerated() {
            if index > 0, (digits.count - index) % 3 == 0, character.isNumber { out += "\u{2009}" }
            out.append(character)
        }
        return out
    }

    /// The policy every page is sent with: nothing may load from anywhere, styles are inline.
    static let contentSecurityPolicy =
        "default-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"

    static func response(_ body: String, status: HTTPResponse.Status = .ok, headers extra: HTTPFields = [:]) -> Response {
        var headers: HTTPFields = [
            .contentType: "text/html; charset=utf-8",
            .contentSecurityPolicy: contentSecurityPolicy,
            .cacheControl: "no-store",
            // Page URLs name leads; no other site needs to learn them from a Referer.
            .referrerPolicy: "no-referrer",
        ]
        for field in extra { headers.append(field) }
        return Response(status: status, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(string: body)))
    }

    /// A complete page with the inline style sheet.
    static func page(title: String, nav: Bool = true, csrf: String = "", _ content: String) -> String {
        Templates.render("page", PageView(title: title, nav: nav, csrf: CSRFField(csrf), style: style, content: content))
    }

    static let style = """
        :root{--ink:#1d2430;--muted:#5b6575;--line:#d9dee6;--bg:#f6f7f9;--card:#fff;--accept:#1f7a4d;--reject:#b3261e;--accent:#2f5db3}
        *{box-sizing:border-box}body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;color:var(--ink);background:var(--bg)}
        header{display:flex;align-items:baseline;gap:16px;padding:14px 28px;background:#17202e;color:#fff}
        header h1{font-size:20px;margin:0}header .sub{color:#b8c2d3}header nav{margin-left:auto;display:flex;gap:16px;align-items:center}
        header a,header .link{color:#cfe0ff;background:none;border:0;font:inherit;cursor:pointer;text-decoration:none}header form{margin:0}header .link{margin:0;padding:0}
        main{padding:20px 28px;max-width:1340px}
        section{background:var(--card);border:1px solid var(--line);border-radius:8px;padding:16px 20px;margin:0 0 20px;overflow-x:auto}
        h2{font-size:16px;margin:0 0 4px}p.note{color:var(--muted);margin:0 0 12px}
        .grid{display:grid;grid-template-columns:1fr 1fr;gap:20px}
        .stats{display:flex;gap:28px;flex-wrap:wrap}.stat b{display:block;font-size:22px}.stat span{color:var(--muted)}
        table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:6px 8px;border-bottom:1px solid var(--line);vertical-align:top}
        th{font-weight:600;color:var(--muted);font-size:12px;text-transform:uppercase;letter-spacing:.03em}td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}td.date{white-space:nowrap}
        .up{color:var(--reject)}.down{color:var(--accept)}.pass{color:var(--accept)}.fail{color:var(--reject)}
        textarea,input[type=text],input[type=date],input[type=password]{font:13px ui-monospace,Menlo,Consolas,monospace;padding:6px 8px;border:1px solid var(--line);border-radius:6px;width:100%}
        textarea{height:150px}label{display:block;margin:6px 0 2px;color:var(--muted)}
        button{background:var(--accent);color:#fff;border:0;border-radius:6px;padding:8px 14px;font:inherit;cursor:pointer;margin-top:8px}
        .row{display:flex;gap:12px}.row>div{flex:1}
        .legend{display:flex;gap:14px;flex-wrap:wrap;margin:6px 0 0;color:var(--muted);font-size:12px}.legend i{display:inline-block;width:12px;height:12px;border-radius:2px;margin-right:5px;vertical-align:-1px}
        .error{background:#fdecea;border-color:#f3b5ae;color:#7a1c14}code,pre{font:12px ui-monospace,Menlo,Consolas,monospace}pre{white-space:pre-wrap;overflow-wrap:anywhere;margin:0}
        select{font:13px system-ui,sans-serif;padding:6px 8px;border:1px solid var(--line);border-radius:6px;width:100%;background:#fff}
        .filters .row{align-items:flex-end}.filters .actions{flex:0 0 auto;display:flex;gap:12px;align-items:center}.filters p.note{margin:10px 0 0}
        a.drill:hover rect{fill-opacity:.08}svg a rect{cursor:pointer}
        .outcome-accepted{color:var(--accept)}.outcome-rejected{color:var(--reject)}
        svg text{font:11px system-ui,-apple-system,"DejaVu Sans",sans-serif;fill:#5b6575}
        """
}
