import Mustache

/// The dashboard's pages as Mustache templates. `{{name}}` escapes what it prints for HTML, so
/// text from the ledger (lead ids, reason labels, a candidate's name) cannot become markup; only
/// the style sheet, the inline SVG charts and pages already rendered go through `{{{name}}}`.
enum Templates {
    /// Every template by name; each can use the others as partials (`{{>csrf}}`).
    static let sources: [String: String] = [
        "page": """
        <!doctype html>
        <html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
        <title>{{title}} · LeadLedger</title>
        <style>{{{style}}}</style></head>
        <body><header><h1>LeadLedger</h1><span class="sub">{{title}}</span>{{#nav}}<nav><a href="/">Dashboard</a><a href="/proposals">Proposals</a><form method="post" action="/logout">{{>csrf}}<button class="link">Sign out</button></form></nav>{{/nav}}</header>
        <main>{{{content}}}</main></body></html>
        """,
        "csrf": #"{{#csrf}}<input type="hidden" name="{{name}}" value="{{token}}">{{/csrf}}"#,
        "login": """
        <section style="max-width:520px"><h2>Sign in</h2>
        <p class="note">The dashboard needs an API key with the <code>read</code> scope (create one with
        <code>leadledger keys add --scope read</code>). Signing in opens a session for this site; the key itself is not kept by the browser.</p>{{#message}}<p class="error">{{.}}</p>{{/message}}
        <form method="post" action="/login"><label for="key">API key</label>
        <input type="password" id="key" name="key" autocomplete="off"><button>Sign in</button></form></section>
        """,
        "error": """
        <section class="error"><h2>{{heading}}</h2><p>{{message}}</p>{{#hasProblems}}<ul>{{#problems}}<li>{{#field}}{{.}}: {{/field}}{{message}}</li>{{/problems}}</ul>{{/hasProblems}}</section>
        """,
        "filters": """
        <section class="filters"><form method="get" action="/"><div class="row">
        <div><label for="f-from">Handed off from</label><input type="date" id="f-from" name="from" value="{{from}}"></div>
        <div><label for="f-to">to (inclusive)</label><input type="date" id="f-to" name="to" value="{{to}}"></div>
        <div><label for="f-channel">Channel</label><select id="f-channel" name="channel">{{#channels}}<option value="{{value}}"{{#selected}} selected{{/selected}}>{{label}}</option>{{/channels}}</select></div>
        <div><label for="f-owner">Owner</label><select id="f-owner" name="owner">{{#owners}}<option value="{{value}}"{{#selected}} selected{{/selected}}>{{label}}</option>{{/owners}}</select></div>
        <div><label for="f-definition">Definition</label><select id="f-definition" name="definition">{{#definitions}}<option value="{{value}}"{{#selected}} selected{{/selected}}>{{label}}</option>{{/definitions}}</select></div>
        <div class="actions"><button>Apply</button>{{#active}} <a href="/">Clear</a>{{/active}}</div></div></form>
        <p class="note">Showing {{summary}}. The filters apply to the hand-off figures and to every chart and table below, and stay in the page's address, so the view can be shared. Click a week in a chart to list its episodes, or <a href="{{episodesLink}}">list them all</a>.</p></section>
        """,
        "episodes": """
        <section><h2>{{heading}}</h2><p class="note">{{summary}} · {{total}} episodes, {{range}} · <a href="{{dashboardLink}}">back to the dashboard</a></p>
        <table><thead><tr><th>Lead</th><th class="num">#</th><th>Handed off</th><th>Owner</th><th>Channel</th><th>Campaign</th><th>Definition</th><th>Outcome</th><th>Decided</th><th class="num">Hours</th><th>Reason</th></tr></thead><tbody>
        {{#rows}}<tr><td><a href="{{auditLink}}">{{lead}}</a></td><td class="num">{{episode}}</td><td class="date">{{handedOffAt}}</td><td>{{owner}}</td><td>{{channel}}</td><td>{{campaign}}</td><td>{{definition}}</td><td class="outcome-{{outcome}}">{{outcome}}</td><td class="date">{{decidedAt}}</td><td class="num">{{hours}}</td><td>{{reason}}{{#corrected}} <small>(corrected)</small>{{/corrected}}</td></tr>
        {{/rows}}{{^rows}}<tr><td colspan="11">No episode matches.</td></tr>{{/rows}}</tbody></table>
        {{#nextLink}}<p><a href="{{.}}">Next page →</a></p>{{/nextLink}}</section>
        """,
        "dashboard": """
        {{#filters}}{{>filters}}{{/filters}}
        <section><div class="stats">
        <div class="stat"><b>{{events}}</b><span>events</span></div>
        <div class="stat"><b>{{leads}}</b><span>leads seen</span></div>
        <div class="stat"><b>{{handedOff}}</b><span>hand-offs</span></div>
        <div class="stat"><b>{{acceptanceRate}}</b><span>accepted ({{accepted}})</span></div>
        <div class="stat"><b>{{rejectionRate}}</b><span>rejected ({{rejected}})</span></div>
        <div class="stat"><b>{{pending}}</b><span>pending</span></div>
        </div><p class="note" style="margin-top:8px">Head hash <code>{{headHash}}…</code> ·
        map {{mapUsed}} used</p><p class="note">Receipt: {{receipt}} (<code>GET /v1/receipt</code>)</p></section>
        <section><h2>Acceptance and rejection rate, weekly</h2><p class="note">By hand-off cohort (ISO week).</p>{{{ratesChart}}}</section>
        <section><h2>Rejections by reason</h2><p class="note">Per weekly cohort, after corrections.</p>{{{reasonsChart}}}</section>
        <section><h2>Funnel: hand-off to revenue</h2><p class="note">Episodes of the hand-offs shown; a conversion or a win belongs to the episode it follows, until the lead's next hand-off. Click a bar to list its episodes.</p>{{{funnelChart}}}</section>
        <section><h2>Service levels, weekly</h2><p class="note">By hand-off cohort (ISO week), under the service level in force at each hand-off, in business hours of its calendar.</p>{{{complianceChart}}}</section>
        <section><h2>First touch by owner</h2>{{{ownersChart}}}</section>
        {{#profile}}{{>profile}}{{/profile}}
        {{#impact}}{{>impact}}{{/impact}}
        <div class="grid">{{>whatIfForm}}{{>lookupForm}}</div>
        """,
        "profile": """
        <section><h2>Buyer profile</h2><p class="note">What accepted and won leads looked like at hand-off, against all {{baseline}}. The {{shown}} strongest of {{valuesTested}} values tested; q: Benjamini–Hochberg adjusted p-value of the acceptance rate against the rest (bold below 0.05).</p>
        <table><thead><tr><th>Field</th><th>Value</th><th class="num">Decided</th><th class="num">Accepted</th><th class="num">Lift</th><th class="num">Won</th><th class="num">Lift</th><th class="num">q</th></tr></thead><tbody>
        {{#rows}}<tr><td>{{field}}</td><td>{{value}}</td><td class="num">{{decided}}</td><td class="num">{{acceptance}}</td><td class="num">{{acceptanceLift}}</td><td class="num">{{win}}</td><td class="num">{{winLift}}</td><td class="num">{{#significant}}<b>{{q}}</b>{{/significant}}{{^significant}}{{q}}{{/significant}}</td></tr>
        {{/rows}}{{^rows}}<tr><td colspan="8">No value has enough decided episodes under these filters.</td></tr>{{/rows}}</tbody></table></section>
        """,
        "impact": """
        <section><h2>Impact of each definition change</h2>
        <p class="note">Rejection rate of episodes under the old definition in the {{windowDays}} days before each change and under the new one in the {{windowDays}} days after; difference with its 95 % interval and two-proportion p-value.</p>
        <table><thead><tr><th>Change</th><th>Effective</th><th class="num">Before</th><th class="num">After</th><th class="num">Difference</th><th class="num">p</th><th>Reasons rising / falling</th><th>Rules changed</th></tr></thead>
        <tbody>{{#changes}}<tr><td>v{{from}} → v{{to}}<br><small>{{name}}</small></td>
        <td class="date">{{effective}}</td>
        <td class="num">{{before}} <small>({{beforeCounts}})</small></td>
        <td class="num">{{after}} <small>({{afterCounts}})</small></td>
        <td class="num {{direction}}">{{difference}}<br><small>{{interval}}</small></td>
        <td class="num">{{pValue}}</td>
        <td><small class="up">{{rising}}</small><br><small class="down">{{falling}}</small></td>
        <td><small>{{rules}}</small></td></tr>{{/changes}}{{^changes}}<tr><td colspan="8">No definition change yet: publish a second MQL definition to see its impact.</td></tr>{{/changes}}</tbody></table>
        {{#hasChanges}}<h3>Adjusted for time</h3>
        <p class="note">Stayers: episodes whose lead state at hand-off satisfies both definitions; their change is the drift of time alone. Time-adjusted: (after − before) − (stayers after − stayers before), 95 % interval. Weekly series: level and slope change of the weekly rejection rate at the change (segmented regression, 95 % intervals). Detectable: the smallest difference the before/after could see at power 80 %.</p>
        <table><thead><tr><th>Change</th><th class="num">Stayers before → after</th><th class="num">Time-adjusted</th><th class="num">Level change</th><th class="num">Slope change</th><th>Reason mix</th><th class="num">Detectable</th></tr></thead>
        <tbody>{{/hasChanges}}{{#changes}}<tr><td>v{{from}} → v{{to}}</td>
        <td class="num"><small>{{stayers}}</small></td>
        <td class="num">{{adjusted}}<br><small>{{adjustedInterval}}</small></td>
        <td class="num">{{level}}</td><td class="num">{{slope}}<br><small>{{series}}</small></td>
        <td><small>{{reasonMix}}</small></td><td class="num">{{detectable}}</td></tr>
        {{#warning}}<tr><td></td><td colspan="6"><small class="error">⚠ {{.}}</small></td></tr>{{/warning}}{{/changes}}{{#hasChanges}}</tbody></table>{{/hasChanges}}</section>
        """,
        "whatIfForm": """
        <section><h2>What if the definition were…</h2>
        <p class="note">A candidate <code>{"name":…,"rules":{…}}</code> (or a bare rules object), evaluated over the whole log. Outcomes of leads it would add are unobserved.</p>
        <form method="post" action="/what-if">{{>csrf}}<label for="candidate">Candidate</label>
        <textarea id="candidate" name="candidate">{{candidate}}</textarea>
        <div class="row"><div><label for="from">From (hand-off day)</label><input type="date" id="from" name="from"></div>
        <div><label for="to">To (inclusive)</label><input type="date" id="to" name="to"></div></div>
        <button>Run what-if</button></form></section>
        """,
        "lookupForm": """
        <section><h2>Why was this lead rejected?</h2><p class="note">Every event of a lead, each episode with the definition in force and the rules' verdicts at hand-off.</p>
        <form method="get" action="/leads"><label for="lead">Lead id</label><input type="text" id="lead" name="lead" placeholder="00Q5e00000AbCdE"><button>Look up</button></form></section>
        """,
        "whatIfResult": """
        <section><h2>What-if result</h2><p class="note">Range: {{from}} – {{to}}. Observed figures come from real outcomes; the estimate is labelled as one.</p>
        {{#candidates}}<h3>{{name}}</h3>
        <p class="note">{{changes}}</p>
        <table><thead><tr><th>Segment</th><th class="num">Leads</th><th class="num">Episodes</th><th class="num">Accepted</th><th class="num">Rejected</th><th class="num">Won</th><th class="num">Rejection rate</th></tr></thead><tbody>
        {{#segments}}<tr><td>{{label}}</td><td class="num">{{leads}}</td><td class="num">{{episodes}}</td><td class="num">{{accepted}}</td><td class="num">{{rejected}}</td><td class="num">{{won}}</td><td class="num">{{rejectionRate}}</td></tr>
        {{/segments}}<tr><td>added (qualifying, never handed off)</td><td class="num">{{addedLeads}}</td><td colspan="5">outcome {{addedOutcome}}</td></tr>
        </tbody></table>
        <div class="stats" style="margin-top:10px">
        <div class="stat"><b>{{observedRate}}</b><span>observed rejection rate{{observedInterval}}</span></div>
        <div class="stat"><b>{{boundsLow}} – {{boundsHigh}}</b><span>bounds with added leads</span></div>
        <div class="stat"><b>{{estimate}}</b><span>estimate ({{estimateMethod}})</span></div>
        <div class="stat"><b>{{rejectionsAvoided}}</b><span>rejections avoided</span></div>
        <div class="stat"><b>{{acceptancesLost}}</b><span>acceptances lost</span></div>
        <div class="stat"><b>{{winsLost}}</b><span>wins lost</span></div></div>
        {{/candidates}}</section>
        """,
        "audit": """
        <section><h2>Lead {{lead}}</h2><p class="note">{{eventCount}} events, {{episodeCount}} episodes; as of position {{head}}.</p>
        <h3>Episodes</h3><table><thead><tr><th class="num">#</th><th>Handed off</th><th>Definition and verdicts</th><th>Outcome</th><th>Reason</th></tr></thead><tbody>{{#episodes}}
        <tr id="episode-{{number}}"><td class="num">{{number}}</td><td>{{handedOffAt}}<br><small>to {{owner}}</small></td>
        <td>{{definition}} {{definitionName}}<br><small>{{qualified}}</small><ul>{{#verdicts}}<li class="{{verdictClass}}">{{mark}} <code>{{rule}}</code> saw {{seen}}</li>{{/verdicts}}</ul></td>
        <td><b>{{outcome}}</b>{{#decidedAt}}<br><small>{{.}}</small>{{/decidedAt}}{{#decidedBy}}<br><small>by {{.}}</small>{{/decidedBy}}</td>
        <td>{{reason}}{{#episodeNote}}<br><small>{{.}}</small>{{/episodeNote}}<ul>{{#corrections}}<li>corrected to {{code}} at {{occurredAt}}{{#correctionNote}}: {{.}}{{/correctionNote}}</li>{{/corrections}}</ul></td></tr>{{/episodes}}</tbody></table>
        <h3>Events, in business-time order</h3><table><thead><tr><th class="num">Pos</th><th>Occurred</th><th>Recorded</th><th>Type</th><th>Source</th><th>Data</th></tr></thead><tbody>{{#events}}
        <tr><td class="num">{{position}}</td><td>{{occurredAt}}{{#late}} <small>(late)</small>{{/late}}</td><td><small>{{recordedAt}}</small></td>
        <td>{{type}}</td><td>{{source}}{{#actor}}<br><small>{{.}}</small>{{/actor}}</td><td><pre>{{data}}</pre></td></tr>{{/events}}</tbody></table></section>
        """,
    ]

    /// The templates, parsed once; a template that does not parse is a bug the tests catch.
    static let library: Result<MustacheLibrary, any Error> = Result {
        var library = MustacheLibrary()
        for (name, source) in sources.merging(ProposalPages.sources, uniquingKeysWith: { first, _ in first }) {
            try library.register(source, named: name)
        }
        return library
    }

    /// `name` rendered over `view`, whose stored properties the template names.
    static func render(_ name: String, _ view: Any) -> String {
        switch library {
        case .success(let library):
            return library.render(view, withTemplate: name) ?? "<p class=\"error\">The page template \(HTML.escape(name)) is missing.</p>"
        case .failure(let error):
            return "<p class=\"error\">The page templates do not parse: \(HTML.escape("\(error)"))</p>"
        }
    }
}
