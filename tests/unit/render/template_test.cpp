// The template language (docs/templates.md): values, filters, conditions and error positions.
#include "daemon/render/template.hpp"

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

namespace tinbao::tpl {
namespace {

namespace json = boost::json;

const json::value& ctx() {
    static const json::value v = json::parse(R"({
        "event_id": "e-1",
        "status_label": "Có kết quả",
        "dossier": {
            "code": "000.00.12.H62-261120-0007",
            "appointment_at": "2026-11-30T14:00:00+07:00",
            "received_at": "2026-11-20T02:00:00Z",
            "late_utc": "2026-12-31T20:30:00Z",
            "fee": 200000,
            "fee_d": 1500000.0,
            "small_fee": 500,
            "zero": 0,
            "ratio": 2.5,
            "urgent": true,
            "quiet": false,
            "empty": "",
            "none": null,
            "procedure": {"name": "Cấp Phiếu lý lịch tư pháp"}
        },
        "applicant": {
            "name": "Nguyễn Thị Ánh Tuyết",
            "phone": "0912345678",
            "html": "<b>A & B</b> \"q\" 'x'"
        },
        "data": {"counter": "Quầy số 5", "list": [1, 2]}
    })");
    return v;
}

std::string render_ok(std::string_view src, RenderOptions opts = {}) {
    auto t = Template::compile(src, "t.yaml");
    if (auto* e = std::get_if<Error>(&t)) {
        ADD_FAILURE() << "compile: " << e->str();
        return {};
    }
    auto r = std::get<Template>(t).render(ctx(), opts);
    if (auto* e = std::get_if<Error>(&r)) {
        ADD_FAILURE() << "render: " << e->str();
        return {};
    }
    return std::get<std::string>(r);
}

Error compile_error(std::string_view src, int line = 1, int column = 1) {
    auto t = Template::compile(src, "f.yaml", line, column);
    if (!std::holds_alternative<Error>(t)) {
        ADD_FAILURE() << "compiled: " << src;
        return {};
    }
    return std::get<Error>(t);
}

Error render_error(std::string_view src) {
    auto t = Template::compile(src, "r.yaml");
    if (auto* e = std::get_if<Error>(&t)) {
        ADD_FAILURE() << "compile: " << e->str();
        return {};
    }
    auto r = std::get<Template>(t).render(ctx());
    if (!std::holds_alternative<Error>(r)) {
        ADD_FAILURE() << "rendered: " << src;
        return {};
    }
    return std::get<Error>(r);
}

TEST(Template, TextAndValues) {
    EXPECT_EQ(render_ok("plain {text} %"), "plain {text} %");
    EXPECT_EQ(render_ok(""), "");
    EXPECT_EQ(render_ok("Ho so {{ dossier.code }}."), "Ho so 000.00.12.H62-261120-0007.");
    EXPECT_EQ(render_ok("{{dossier.code}}"), "000.00.12.H62-261120-0007");
    EXPECT_EQ(render_ok("{{ event_id }}/{{ status_label }}"), "e-1/Có kết quả");
    EXPECT_EQ(render_ok("{{ dossier.fee }} {{ dossier.fee_d }} {{ dossier.ratio }}"),
              "200000 1500000 2.5");
    EXPECT_EQ(render_ok("{{ dossier.urgent }} {{ dossier.quiet }} {{ dossier.zero }}"),
              "true false 0");
    EXPECT_EQ(render_ok("{{ dossier.procedure.name }}"), "Cấp Phiếu lý lịch tư pháp");
}

TEST(Template, UpperLowerVietnamese) {
    EXPECT_EQ(render_ok("{{ applicant.name | upper }}"), "NGUYỄN THỊ ÁNH TUYẾT");
    EXPECT_EQ(render_ok("{{ applicant.name | lower }}"), "nguyễn thị ánh tuyết");
    EXPECT_EQ(render_ok("{{ data.counter | upper }}"), "QUẦY SỐ 5");
    EXPECT_EQ(render_ok("{{ dossier.code | default(\"đường ưu\") }}"),
              "000.00.12.H62-261120-0007");
    EXPECT_EQ(render_ok("{{ dossier.none | default(\"đường Ưu Ơn\") | upper }}"),
              "ĐƯỜNG ƯU ƠN");
    EXPECT_EQ(render_ok("{{ dossier.none | default(\"ĐƯỜNG ƯU\") | lower }}"), "đường ưu");
}

TEST(Template, Unaccent) {
    EXPECT_EQ(render_ok("{{ applicant.name | unaccent }}"), "Nguyen Thi Anh Tuyet");
    EXPECT_EQ(render_ok("{{ applicant.name | unaccent | upper }}"), "NGUYEN THI ANH TUYET");
}

TEST(Template, Default) {
    EXPECT_EQ(render_ok("{{ data.missing | default(\"Trung tâm\") }}"), "Trung tâm");
    EXPECT_EQ(render_ok("{{ nothing.at.all | default('x') }}"), "x");
    EXPECT_EQ(render_ok("{{ dossier.none | default(\"n\") }}"), "n");
    EXPECT_EQ(render_ok("{{ dossier.empty | default(\"e\") }}"), "e");
    EXPECT_EQ(render_ok("{{ dossier.zero | default(\"z\") }}"), "0");
    EXPECT_EQ(render_ok("{{ dossier.quiet | default(\"z\") }}"), "false");
    EXPECT_EQ(render_ok("{{ data.counter | default(\"z\") }}"), "Quầy số 5");
    EXPECT_EQ(render_ok("{{ data.missing | upper | default(\"late\") }}"), "late");
    EXPECT_EQ(render_ok("{{ dossier.none | date(\"%d\") | default(\"chua hen\") }}"),
              "chua hen");
    EXPECT_EQ(render_ok(R"({{ data.missing | default("say \"hi\"") }})"), "say \"hi\"");
    EXPECT_EQ(render_ok("{{ dossier.empty }}|"), "|");  // present, empty: no error
}

TEST(Template, DateInVietnamTime) {
    EXPECT_EQ(render_ok("{{ dossier.appointment_at | date(\"%H:%M %d/%m/%Y\") }}"),
              "14:00 30/11/2026");
    EXPECT_EQ(render_ok("{{ dossier.received_at | date(\"%H:%M %d/%m/%Y\") }}"),
              "09:00 20/11/2026");
    // 20:30 UTC on 31 Dec is 03:30 on 1 Jan in Vietnam.
    EXPECT_EQ(render_ok("{{ dossier.late_utc | date(\"%d/%m/%Y %H:%M %z %Z %j %a\") }}"),
              "01/01/2027 03:30 +0700 +07 001 Fri");
    const std::vector<std::pair<std::string, std::string>> times = {
        {"2026-11-27T08:15:00+07:00", "08:15 27/11/2026"},
        {"2026-11-27T01:15:00.123Z", "08:15 27/11/2026"},
        {"2026-11-26T20:15:00-05:00", "08:15 27/11/2026"},
        {"2024-02-29T00:00:00+07:00", "00:00 29/02/2024"},
        {"2026-11-30", "00:00 30/11/2026"},
        {"1969-12-31T17:00:00Z", "00:00 01/01/1970"},
    };
    for (const auto& [in, want] : times) {
        json::value c = {{"t", in}};
        auto t = std::get<Template>(Template::compile("{{ t | date(\"%H:%M %d/%m/%Y\") }}", "d"));
        auto r = t.render(c);
        ASSERT_TRUE(std::holds_alternative<std::string>(r)) << in;
        EXPECT_EQ(std::get<std::string>(r), want) << in;
    }
    for (const char* bad : {"2026-13-01T00:00:00Z", "2026-11-27 08:15", "yesterday",
                            "2023-02-29T00:00:00Z", "2026-11-27T08:15:00", "2026-11-27T25:00:00Z"}) {
        json::value c = {{"t", bad}};
        auto t = std::get<Template>(Template::compile("{{ t | date(\"%d\") }}", "d"));
        auto r = t.render(c);
        ASSERT_TRUE(std::holds_alternative<Error>(r)) << bad;
        EXPECT_NE(std::get<Error>(r).message.find("RFC 3339"), std::string::npos);
    }
}

TEST(Template, Vnd) {
    EXPECT_EQ(render_ok("{{ dossier.fee | vnd }}"), "200.000 đ");
    EXPECT_EQ(render_ok("{{ dossier.fee_d | vnd }}"), "1.500.000 đ");
    EXPECT_EQ(render_ok("{{ dossier.small_fee | vnd }}"), "500 đ");
    EXPECT_EQ(render_ok("{{ dossier.zero | vnd }}"), "0 đ");
    EXPECT_EQ(render_ok("{{ dossier.fee | vnd | unaccent }}"), "200.000 d");
    json::value c = {{"n", -1234567}, {"s", "25000"}};
    auto t = std::get<Template>(Template::compile("{{ n | vnd }};{{ s | vnd }}", "v"));
    EXPECT_EQ(std::get<std::string>(t.render(c)), "-1.234.567 đ;25.000 đ");
    Error e = render_error("{{ applicant.name | vnd }}");
    EXPECT_NE(e.message.find("integer"), std::string::npos);
}

TEST(Template, Truncate) {
    EXPECT_EQ(render_ok("{{ applicant.name | truncate(6) }}"), "Nguyễn");
    EXPECT_EQ(render_ok("{{ applicant.name | truncate(0) }}"), "");
    EXPECT_EQ(render_ok("{{ applicant.name | truncate(100) }}"), "Nguyễn Thị Ánh Tuyết");
    EXPECT_EQ(render_ok("{{ applicant.name | truncate(20) }}"), "Nguyễn Thị Ánh Tuyết");
    EXPECT_EQ(render_ok("{{ applicant.name | truncate(19) }}"), "Nguyễn Thị Ánh Tuyế");
    EXPECT_EQ(render_ok("{{ applicant.name | unaccent | truncate(10) }}"), "Nguyen Thi");
    // A cut that ends on a space drops it; an untouched value keeps its spaces.
    EXPECT_EQ(render_ok("[{{ applicant.name | truncate(7) }}]"), "[Nguyễn]");
    EXPECT_EQ(render_ok("[{{ applicant.name | truncate(11) }}]"), "[Nguyễn Thị]");
    EXPECT_EQ(render_ok("[{{ data.missing | default(\"a  \") | truncate(5) }}]"), "[a  ]");
    // Characters as a reader counts them: a letter keeps its combining marks.
    EXPECT_EQ(render_ok("{{ data.missing | default(\"x\u0323\u0302y\") | truncate(1) }}"),
              "x\u0323\u0302");
    EXPECT_EQ(render_ok("{{ data.missing | default(\"x\u0323\u0302y\") | truncate(2) }}"),
              "x\u0323\u0302y");
}

TEST(Template, MaskPhone) {
    EXPECT_EQ(render_ok("{{ applicant.phone | mask_phone }}"), "0912***678");
}

TEST(Template, HtmlEscapeOnlyInsertedValues) {
    RenderOptions html{true};
    EXPECT_EQ(render_ok("<p>{{ applicant.html }}</p> & 'lit'", html),
              "<p>&lt;b&gt;A &amp; B&lt;/b&gt; &quot;q&quot; &#39;x&#39;</p> & 'lit'");
    EXPECT_EQ(render_ok("<p>{{ applicant.html }}</p>"), "<p><b>A & B</b> \"q\" 'x'</p>");
}

TEST(Template, IfElifElse) {
    const std::string src =
        "{% if dossier.none %}N{% elif dossier.urgent %}U{% else %}E{% endif %}";
    EXPECT_EQ(render_ok(src), "U");
    EXPECT_EQ(render_ok("{% if dossier.urgent %}yes{% endif %}"), "yes");
    EXPECT_EQ(render_ok("a{% if dossier.quiet %}yes{% endif %}b"), "ab");
    EXPECT_EQ(render_ok("{% if dossier.quiet %}1{% elif dossier.zero %}2{% elif "
                        "dossier.empty %}3{% elif dossier.none %}4{% elif nothing %}5"
                        "{% else %}6{% endif %}"),
              "6");
    EXPECT_EQ(render_ok("{% if dossier.fee %}{{ dossier.fee | vnd }}{% else %}free{% endif %}"),
              "200.000 đ");
    EXPECT_EQ(render_ok("{% if data.list %}L{% endif %}{% if dossier.ratio %}R{% endif %}"),
              "LR");
    // Nested; the untaken branch may reference missing values without an error.
    EXPECT_EQ(render_ok("{% if dossier.urgent %}[{% if dossier.quiet %}{{ missing }}{% else %}"
                        "{% if applicant.name %}{{ applicant.name | unaccent }}{% endif %}"
                        "{% endif %}]{% else %}{{ missing }}{% endif %}"),
              "[Nguyen Thi Anh Tuyet]");
    EXPECT_EQ(render_ok("{%if dossier.urgent%}x{%endif%}"), "x");
}

TEST(Template, MissingValueErrorHasPosition) {
    Error e = render_error("Ho so\n  abc {{ dossier.appointment_date | date(\"%d\") }}");
    EXPECT_EQ(e.file, "r.yaml");
    EXPECT_EQ(e.line, 2);
    EXPECT_EQ(e.column, 7);
    EXPECT_NE(e.message.find("dossier.appointment_date"), std::string::npos);
    EXPECT_EQ(e.str().substr(0, 11), "r.yaml:2:7:");
    // Columns count characters, not bytes.
    Error v = render_error("Hồ sơ {{ dossier.none }}");
    EXPECT_EQ(v.line, 1);
    EXPECT_EQ(v.column, 7);
    Error obj = render_error("{{ dossier.procedure }}");
    EXPECT_NE(obj.message.find("not a text"), std::string::npos);
}

TEST(Template, SyntaxErrorsWithPositions) {
    struct Case {
        std::string src;
        int line;
        int column;
        std::string needle;
    };
    const std::vector<Case> cases = {
        {"ab {{ x ", 1, 4, "unclosed '{{'"},
        {"ab\n{% if x ", 2, 1, "unclosed '{%'"},
        {"ab {{ x | shout }}", 1, 11, "unknown filter 'shout'"},
        {"{{ x | upper(1) }}", 1, 8, "takes 0 arguments"},
        {"{{ x | default }}", 1, 8, "takes 1 argument"},
        {"{{ x | default(1) }}", 1, 16, "string argument"},
        {"{{ x | truncate(\"a\") }}", 1, 17, "integer argument"},
        {"{{ x | truncate(-2) }}", 1, 17, ">= 0"},
        {"{{ x | date(\"%d\", \"%m\") }}", 1, 8, "takes 1 argument"},
        {"{{ x | default(\"abc) }}", 1, 16, "unterminated"},
        {"{{ }}", 1, 1, "empty expression"},
        {"{{ \"x\" }}", 1, 4, "expected a value path"},
        {"{{ x y }}", 1, 6, "expected '|'"},
        {"{{ x. }}", 1, 6, "empty segment"},
        {"{{ x | }}", 1, 8, "filter name"},
        {"line1\nx {% endif %}", 2, 3, "'endif' without a matching 'if'"},
        {"{% else %}", 1, 1, "'else' without"},
        {"{% elif y %}", 1, 1, "'elif' without"},
        {"a\n  {% if x %}b", 2, 3, "'if' without a matching 'endif'"},
        {"{% if x %}{% else %}{% elif y %}{% endif %}", 1, 21, "'elif' after 'else'"},
        {"{% if x %}{% else %}{% else %}{% endif %}", 1, 21, "'else' after 'else'"},
        {"{% for x in y %}", 1, 4, "unknown tag 'for'"},
        {"{% if %}", 1, 7, "needs a value path"},
        {"{% endif x %}", 1, 10, "unexpected text"},
        {"{% if x %}{{ a | nope }}{% endif %}", 1, 18, "unknown filter 'nope'"},
    };
    for (const Case& c : cases) {
        Error e = compile_error(c.src);
        EXPECT_EQ(e.file, "f.yaml") << c.src;
        EXPECT_EQ(e.line, c.line) << c.src << " -> " << e.str();
        EXPECT_EQ(e.column, c.column) << c.src << " -> " << e.str();
        EXPECT_NE(e.message.find(c.needle), std::string::npos) << c.src << " -> " << e.str();
    }
}

TEST(Template, StartPositionShiftsErrors) {
    Error e = compile_error("Hồ sơ {{ x | nope }}", 12, 10);
    EXPECT_EQ(e.line, 12);
    EXPECT_EQ(e.column, 10 + 13);
    Error e2 = compile_error("a\nbc {{ x | nope }}", 12, 10);
    EXPECT_EQ(e2.line, 13);
    EXPECT_EQ(e2.column, 1 + 10);
}

TEST(Template, CopiesShareAndSourceIsKept) {
    auto t = std::get<Template>(Template::compile("{{ event_id }}", "s"));
    Template copy = t;
    Template moved = std::move(t);
    EXPECT_EQ(copy.source(), "{{ event_id }}");
    EXPECT_EQ(std::get<std::string>(copy.render(ctx())), "e-1");
    EXPECT_EQ(std::get<std::string>(moved.render(ctx())), "e-1");
    Template empty;
    EXPECT_EQ(empty.source(), "");
    EXPECT_EQ(std::get<std::string>(empty.render(ctx())), "");
}

TEST(StatusLabel, AllCanonicalStatuses) {
    const std::vector<std::pair<std::string, std::string>> labels = {
        {"received", "Đã tiếp nhận"},
        {"supplement_requested", "Yêu cầu bổ sung hồ sơ"},
        {"fee_required", "Yêu cầu thực hiện nghĩa vụ tài chính"},
        {"processing", "Đang xử lý"},
        {"transferred", "Chuyển xử lý liên thông"},
        {"paused", "Tạm dừng xử lý"},
        {"result_ready", "Có kết quả"},
        {"returned", "Đã trả kết quả"},
        {"rejected", "Từ chối tiếp nhận"},
        {"overdue", "Quá hạn xử lý"},
        {"cancelled", "Đã rút hồ sơ"},
    };
    for (const auto& [status, label] : labels) EXPECT_EQ(status_label(status), label);
    EXPECT_EQ(status_label("DA_CO_KET_QUA"), "DA_CO_KET_QUA");
}

}  // namespace
}  // namespace tinbao::tpl
