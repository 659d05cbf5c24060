// Loading `<status>.yaml` template folders: parts, errors with file positions, and the shipped
// templates rendered against every shipped sample event.
#include "daemon/render/sms_text.hpp"
#include "daemon/render/template.hpp"
#include "daemon/render/unicode.hpp"

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include <stdlib.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace tinbao::tpl {
namespace {

namespace fs = std::filesystem;
namespace json = boost::json;

class TempDir {
public:
    TempDir() {
        std::string tmpl = std::string(TINBAO_BINARY_DIR) + "/render_test_XXXXXX";
        if (!mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp");
        path_ = tmpl;
    }
    ~TempDir() {
        std::error_code ec;
        fs::remove_all(path_, ec);
    }
    const std::string& path() const { return path_; }
    void write(const std::string& name, const std::string& content) const {
        fs::create_directories(fs::path(path_ + "/" + name).parent_path());
        std::ofstream(path_ + "/" + name, std::ios::binary) << content;
    }
    std::string file(const std::string& name) const { return path_ + "/" + name; }

private:
    std::string path_;
};

const json::value& event() {
    static const json::value v = json::parse(R"({
        "event_id": "e-1", "status_label": "Có kết quả",
        "dossier": {"code": "H62-0007", "fee": 200000},
        "applicant": {"name": "Trần Văn <An>", "phone": "0912345678"}
    })");
    return v;
}

std::string render(const Template& t, const json::value& ctx, bool html = false) {
    auto r = t.render(ctx, RenderOptions{html});
    if (auto* e = std::get_if<Error>(&r)) {
        ADD_FAILURE() << e->str();
        return {};
    }
    return std::get<std::string>(r);
}

std::string dump(const std::vector<Error>& errors) {
    std::string s;
    for (const auto& e : errors) s += e.str() + "\n";
    return s;
}

TEST(TemplateSet, LoadsAllParts) {
    TempDir dir;
    dir.write("result_ready.yaml",
              "# result\n"
              "sms: |\n"
              "  Ho so {{ dossier.code }} cua {{ applicant.name | unaccent }}\n"
              "email:\n"
              "  subject: \"Hồ sơ {{ dossier.code }}\"\n"
              "  text: |\n"
              "    Kính gửi {{ applicant.name }},\n"
              "    Lệ phí {{ dossier.fee | vnd }}.\n"
              "  html: |\n"
              "    <p>{{ applicant.name }}</p>\n"
              "zalo:\n"
              "  template_id: 301234\n"
              "  params:\n"
              "    customer_name: \"{{ applicant.name }}\"\n"
              "    dossier_code: '{{ dossier.code }}'\n"
              "    phone: \"{{ applicant.phone | mask_phone }}\"\n");
    dir.write("received.yaml", "sms: Ho so {{ dossier.code }} da duoc tiep nhan\n");
    dir.write("samples/result_ready.yaml", "not: [valid template");  // ignored folder
    dir.write("samples/e1.json", "{}");
    dir.write("README.txt", "not a template");
    std::vector<Error> errors;
    auto set = TemplateSet::load(dir.path(), errors);
    ASSERT_TRUE(errors.empty()) << dump(errors);
    EXPECT_EQ(set->all().size(), 2u);
    EXPECT_EQ(set->find("overdue"), nullptr);
    const StatusTemplates* st = set->find("result_ready");
    ASSERT_NE(st, nullptr);
    EXPECT_EQ(st->status, "result_ready");
    EXPECT_EQ(st->file, dir.file("result_ready.yaml"));
    ASSERT_TRUE(st->sms);
    // The block scalar's final line break is not part of an SMS.
    EXPECT_EQ(render(*st->sms, event()), "Ho so H62-0007 cua Tran Van <An>");
    ASSERT_TRUE(st->email);
    EXPECT_EQ(render(st->email->subject, event()), "Hồ sơ H62-0007");
    EXPECT_EQ(render(st->email->text, event()),
              "Kính gửi Trần Văn <An>,\nLệ phí 200.000 đ.\n");
    ASSERT_TRUE(st->email->html);
    EXPECT_EQ(render(*st->email->html, event(), true), "<p>Trần Văn &lt;An&gt;</p>\n");
    ASSERT_TRUE(st->zalo);
    EXPECT_EQ(st->zalo->template_id, "301234");
    ASSERT_EQ(st->zalo->params.size(), 3u);
    EXPECT_EQ(st->zalo->params[0].first, "customer_name");
    EXPECT_EQ(render(st->zalo->params[0].second, event()), "Trần Văn <An>");
    EXPECT_EQ(st->zalo->params[1].first, "dossier_code");
    EXPECT_EQ(render(st->zalo->params[1].second, event()), "H62-0007");
    EXPECT_EQ(render(st->zalo->params[2].second, event()), "0912***678");
    const StatusTemplates* rec = set->find("received");
    ASSERT_NE(rec, nullptr);
    EXPECT_FALSE(rec->email);
    EXPECT_FALSE(rec->zalo);
    EXPECT_EQ(render(*rec->sms, event()), "Ho so H62-0007 da duoc tiep nhan");
}

struct Expect {
    int line;
    int column;
    std::string needle;
};

void expect_errors(const std::string& content, const std::vector<Expect>& want) {
    TempDir dir;
    dir.write("overdue.yaml", content);
    dir.write("processing.yaml", "sms: ok\n");
    std::vector<Error> errors;
    auto set = TemplateSet::load(dir.path(), errors);
    // The bad file is left out; the good one is loaded.
    EXPECT_EQ(set->find("overdue"), nullptr);
    EXPECT_NE(set->find("processing"), nullptr);
    ASSERT_EQ(errors.size(), want.size()) << content << "\n" << dump(errors);
    for (std::size_t i = 0; i < want.size(); ++i) {
        EXPECT_EQ(errors[i].file, dir.file("overdue.yaml"));
        EXPECT_EQ(errors[i].line, want[i].line) << errors[i].str();
        EXPECT_EQ(errors[i].column, want[i].column) << errors[i].str();
        EXPECT_NE(errors[i].message.find(want[i].needle), std::string::npos) << errors[i].str();
    }
}

TEST(TemplateSet, ErrorInBlockScalarHasFileLineAndColumn) {
    expect_errors("# header\n"
                  "sms: |\n"
                  "  Ho so {{ dossier.code }}\n"
                  "  cua {{ applicant.name | shout }}\n",
                  {{4, 27, "unknown filter 'shout'"}});
    // Indicator line with a comment, a blank first line, deeper indentation.
    expect_errors("email:\n"
                  "  subject: x\n"
                  "  text: |  # the body\n"
                  "\n"
                  "      Kính gửi {{ a }}\n"
                  "      {% endif %}\n",
                  {{6, 7, "'endif' without"}});
    expect_errors("sms: |\n"
                  "   {{ x\n",
                  {{2, 4, "unclosed '{{'"}});
}

TEST(TemplateSet, ErrorInQuotedAndPlainScalars) {
    expect_errors("email:\n"
                  "  subject: \"Hồ sơ {{ x | upper(2) }}\"\n"
                  "  text: ok\n",
                  {{2, 26, "takes 0 arguments"}});
    expect_errors("sms: Ho so {{ x | nope }}\n", {{1, 19, "unknown filter 'nope'"}});
    expect_errors("zalo:\n"
                  "  template_id: '1'\n"
                  "  params:\n"
                  "    name: '{% if x %}'\n",
                  {{4, 12, "'if' without a matching 'endif'"}});
}

TEST(TemplateSet, RenderErrorPointsIntoTheFile) {
    TempDir dir;
    dir.write("paused.yaml",
              "sms: |\n"
              "  Ho so {{ dossier.code }}\n"
              "  hen {{ dossier.appointment_at | date(\"%d/%m\") }}\n");
    std::vector<Error> errors;
    auto set = TemplateSet::load(dir.path(), errors);
    ASSERT_TRUE(errors.empty()) << dump(errors);
    auto r = set->find("paused")->sms->render(event());
    ASSERT_TRUE(std::holds_alternative<Error>(r));
    const Error& e = std::get<Error>(r);
    EXPECT_EQ(e.str().substr(0, e.str().find(": ")), dir.file("paused.yaml") + ":3:7");
    EXPECT_NE(e.message.find("dossier.appointment_at"), std::string::npos);
}

TEST(TemplateSet, StructuralErrors) {
    expect_errors("sms: ok\nfax: no\n", {{2, 1, "unknown part 'fax'"}});
    expect_errors("email:\n  subject: s\n  text: t\n  body: b\n",
                  {{4, 3, "unknown key 'email.body'"}});
    expect_errors("email:\n  text: t\n", {{2, 3, "needs a 'subject'"}});
    expect_errors("zalo:\n  params: {a: b}\n", {{2, 3, "needs a 'template_id'"}});
    expect_errors("zalo:\n  template_id: '1'\n  params: [a]\n  extra: 1\n",
                  {{3, 11, "'zalo.params' must be a mapping"}, {4, 3, "unknown key 'zalo.extra'"}});
    expect_errors("sms:\n  - a\n", {{2, 3, "'sms' must be a text"}});
    expect_errors("- a\n", {{1, 1, "expected a mapping"}});
    expect_errors("", {{1, 1, "expected a mapping"}});
    expect_errors("sms: x\n  bad: y\n", {{2, 6, "illegal map value"}});
    expect_errors("sms: x\nsms: y\n", {{2, 1, "duplicate part 'sms'"}});
    // Every error of a file is reported, not just the first.
    expect_errors("sms: '{{ a | x }}'\nemail: 3\n",
                  {{1, 14, "unknown filter 'x'"}, {2, 8, "'email' must be a mapping"}});
}

TEST(TemplateSet, UnknownStatusFileAndMissingFolder) {
    TempDir dir;
    dir.write("result.yaml", "sms: ok\n");
    dir.write("returned.yaml", "sms: ok\n");
    std::vector<Error> errors;
    auto set = TemplateSet::load(dir.path(), errors);
    ASSERT_EQ(errors.size(), 1u);
    EXPECT_EQ(errors[0].file, dir.file("result.yaml"));
    EXPECT_NE(errors[0].message.find("not a canonical status"), std::string::npos);
    EXPECT_NE(set->find("returned"), nullptr);
    EXPECT_EQ(set->all().size(), 1u);

    std::vector<Error> missing;
    auto none = TemplateSet::load(dir.path() + "/nope", missing);
    EXPECT_EQ(missing.size(), 1u);
    EXPECT_TRUE(none->all().empty());
}

// ---- the shipped templates and samples ----

json::value nfc_all(const json::value& v) {
    switch (v.kind()) {
        case json::kind::string: {
            auto n = text::nfc(v.get_string());
            EXPECT_TRUE(n.has_value());
            return json::string(n.value_or(""));
        }
        case json::kind::object: {
            json::object o;
            for (const auto& kv : v.get_object()) o[kv.key()] = nfc_all(kv.value());
            return o;
        }
        case json::kind::array: {
            json::array a;
            for (const auto& x : v.get_array()) a.push_back(nfc_all(x));
            return a;
        }
        default: return v;
    }
}

std::vector<std::pair<std::string, json::value>> samples() {
    std::vector<std::pair<std::string, json::value>> out;
    const std::string dir = std::string(TINBAO_SOURCE_DIR) + "/templates/samples";
    for (const auto& e : fs::directory_iterator(dir)) {
        if (e.path().extension() != ".json") continue;
        std::ifstream in(e.path());
        std::stringstream buf;
        buf << in.rdbuf();
        out.emplace_back(e.path().filename().string(), json::parse(buf.str()));
    }
    std::sort(out.begin(), out.end(), [](auto& a, auto& b) { return a.first < b.first; });
    return out;
}

TEST(ShippedTemplates, LoadCleanlyForEveryCanonicalStatus) {
    std::vector<Error> errors;
    auto set = TemplateSet::load(std::string(TINBAO_SOURCE_DIR) + "/templates", errors);
    ASSERT_TRUE(errors.empty()) << dump(errors);
    for (const char* s : {"received", "supplement_requested", "fee_required", "processing",
                          "transferred", "paused", "result_ready", "returned", "rejected",
                          "overdue", "cancelled"}) {
        const StatusTemplates* st = set->find(s);
        ASSERT_NE(st, nullptr) << s;
        EXPECT_TRUE(st->sms && st->email && st->zalo) << s;
        if (st->email) {
            EXPECT_TRUE(st->email->html) << s;
        }
        if (st->zalo) {
            EXPECT_FALSE(st->zalo->template_id.empty()) << s;
            EXPECT_FALSE(st->zalo->params.empty()) << s;
        }
    }
    EXPECT_EQ(set->all().size(), 11u);
}

TEST(ShippedTemplates, EveryTemplateRendersAgainstEverySample) {
    std::vector<Error> errors;
    auto set = TemplateSet::load(std::string(TINBAO_SOURCE_DIR) + "/templates", errors);
    ASSERT_TRUE(errors.empty()) << dump(errors);
    auto all = samples();
    ASSERT_GE(all.size(), 4u);
    for (const auto& [name, raw] : all) {
        for (const auto& [status, st] : set->all()) {
            json::value ctx = nfc_all(raw);
            ctx.as_object()["dossier"].as_object()["status"] = status;
            ctx.as_object()["status_label"] = status_label(status);
            const std::string where = name + " x " + status;
            auto ok = [&](const Template& t, bool html) {
                auto r = t.render(ctx, RenderOptions{html});
                if (auto* e = std::get_if<Error>(&r)) {
                    ADD_FAILURE() << where << ": " << e->str();
                    return std::string();
                }
                return std::get<std::string>(r);
            };
            ASSERT_TRUE(st.sms);
            std::string sms = ok(*st.sms, false);
            EXPECT_TRUE(sms::is_gsm7(sms)) << where << ": " << sms;
            auto c = sms::count(sms, sms::Encoding::gsm7);
            EXPECT_EQ(c.segments, 1) << where << " (" << c.characters << "): " << sms;
            EXPECT_EQ(sms.find("{{"), std::string::npos) << where;
            EXPECT_EQ(sms.find('\n'), std::string::npos) << where << ": " << sms;
            ASSERT_TRUE(st.email);
            std::string subject = ok(st.email->subject, false);
            EXPECT_FALSE(subject.empty()) << where;
            EXPECT_EQ(subject.find('\n'), std::string::npos) << where;
            EXPECT_FALSE(ok(st.email->text, false).empty()) << where;
            std::string html = ok(*st.email->html, true);
            EXPECT_NE(html.find("<p>"), std::string::npos) << where;
            for (const auto& [pname, p] : st.zalo->params)
                EXPECT_FALSE(ok(p, false).empty()) << where << " zalo." << pname;
        }
    }
}

}  // namespace
}  // namespace tinbao::tpl
