// Registered brandname templates: compile errors, literal and variable matching, whitespace,
// and a matcher that stays fast on pathological input.
#include "daemon/render/registered.hpp"
#include "daemon/render/template.hpp"

#include <boost/json.hpp>

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace tinbao::sms {
namespace {

RegisteredTemplates compiled(const std::vector<std::string>& entries,
                             std::size_t max = RegisteredTemplates::kDefaultMaxVariableChars) {
    auto r = RegisteredTemplates::compile(entries, max);
    if (auto* err = std::get_if<std::string>(&r)) ADD_FAILURE() << *err;
    return std::get_if<RegisteredTemplates>(&r) ? std::get<RegisteredTemplates>(std::move(r))
                                                : RegisteredTemplates{};
}

std::string compile_error(const std::vector<std::string>& entries) {
    auto r = RegisteredTemplates::compile(entries);
    auto* err = std::get_if<std::string>(&r);
    return err ? *err : std::string("(compiled)");
}

TEST(RegisteredCompile, UnbalancedBracesNameTheIndex) {
    EXPECT_EQ(compile_error({"Ho so {{ code }} da xong", "Ho so {{ code da xong"}),
              "registered_templates[1]: unclosed '{{' at byte 6");
    EXPECT_EQ(compile_error({"Ho so code }} da xong"}),
              "registered_templates[0]: '}}' without a matching '{{' at byte 11");
    EXPECT_EQ(compile_error({"ok", "ok", "Ho so {{ a {{ b }} }}"}),
              "registered_templates[2]: '{{' inside a variable part at byte 11");
    EXPECT_EQ(compile_error({"   \n "}), "registered_templates[0]: empty template");
    EXPECT_EQ(compile_error({"A {{x}} B", "\xC3"}), "registered_templates[1]: not valid UTF-8");
    EXPECT_EQ(RegisteredTemplates::check("Ma {{ x }} {"), "");
    EXPECT_EQ(RegisteredTemplates::check("Ma {{ x"), "unclosed '{{' at byte 3");
}

TEST(RegisteredMatch, EmptySetChecksNothing) {
    RegisteredTemplates none = compiled({});
    EXPECT_TRUE(none.empty());
    EXPECT_TRUE(none.matches("anything at all"));
    EXPECT_EQ(none.match("anything at all"), -1);
    EXPECT_TRUE(can_match(none, "x"));
}

TEST(RegisteredMatch, LiteralOnly) {
    RegisteredTemplates t = compiled({"Trung tam PVHCC xin thong bao."});
    EXPECT_TRUE(t.matches("Trung tam PVHCC xin thong bao."));
    EXPECT_FALSE(t.matches("Trung tam PVHCC xin thong bao"));     // missing the dot
    EXPECT_FALSE(t.matches("trung tam PVHCC xin thong bao."));    // case-sensitive
    EXPECT_FALSE(t.matches("Trung tam PVHCC xin thong bao. X"));  // extra text
}

TEST(RegisteredMatch, WhitespaceRunsCollapseOnBothSides) {
    RegisteredTemplates t = compiled({"  Ho so\t{{ code }}   da  co\nket qua. "});
    EXPECT_TRUE(t.matches("Ho so 000.12 da co ket qua."));
    EXPECT_TRUE(t.matches("\nHo so   000.12 da co    ket qua.  "));
    EXPECT_FALSE(t.matches("Ho so000.12 da co ket qua."));  // the space is literal
    EXPECT_FALSE(t.matches("Ho so 000.12 da coket qua."));
}

TEST(RegisteredMatch, VariablesAtStartMiddleEnd) {
    RegisteredTemplates t = compiled({
        "{{ name }} oi, ho so da xong",             // 0: at the start
        "Ho so {{ code }} cua {{ name }} da xong",  // 1: in the middle
        "Ma xac nhan: {{ otp }}",                   // 2: at the end
    });
    EXPECT_EQ(t.match("Nguyen Van A oi, ho so da xong"), 0);
    EXPECT_EQ(t.match("Ho so H62-0007 cua Nguyen Thi B da xong"), 1);
    EXPECT_EQ(t.match("Ma xac nhan: 123456"), 2);
    EXPECT_EQ(t.match(" oi, ho so da xong"), -1);  // a variable is at least one character
    EXPECT_EQ(t.match("Ma xac nhan: "), -1);
    EXPECT_EQ(t.match("Ho so  cua X da xong"), -1);
    // A literal that also occurs inside a variable value: the matcher must try later places.
    EXPECT_EQ(t.match("Ho so A cua B cua C da xong da xong"), 1);
}

TEST(RegisteredMatch, VariablesNextToPunctuationAndEachOther) {
    RegisteredTemplates t = compiled({"Hen ({{ date }}), tai {{ place }}.", "{{a}}{{b}}-{{c}}"});
    EXPECT_EQ(t.match("Hen (30/11/2026), tai Quay so 5."), 0);
    EXPECT_EQ(t.match("Hen (30/11/2026) tai Quay so 5."), -1);
    EXPECT_EQ(t.match("Hen (), tai Quay so 5."), -1);
    EXPECT_EQ(t.match("xy-z"), 1);  // two adjacent variables: one character each at least
    EXPECT_EQ(t.match("x-z"), -1);
    EXPECT_EQ(t.match("xy-"), -1);
}

TEST(RegisteredMatch, FirstMatchingIndexAndNoMatch) {
    RegisteredTemplates t = compiled({"A {{x}} B", "A {{x}}", "{{x}}"});
    EXPECT_EQ(t.size(), 3u);
    EXPECT_EQ(t.match("A 1 B"), 0);
    EXPECT_EQ(t.match("A 1 C"), 1);
    EXPECT_EQ(t.match("Z"), 2);
    RegisteredTemplates strict = compiled({"Ho so {{ code }} da xong"});
    EXPECT_FALSE(strict.matches("Ho so 1 da co ket qua"));
    EXPECT_FALSE(can_match(strict, "Ho so 1 da co ket qua"));
    EXPECT_TRUE(can_match(strict, "Ho so 1 da xong"));
}

TEST(RegisteredMatch, VariableLengthLimitCountsCharacters) {
    RegisteredTemplates t = compiled({"Ten: {{ name }}."}, 5);
    EXPECT_TRUE(t.matches("Ten: Tuyết."));    // 5 code points, 7 bytes
    EXPECT_FALSE(t.matches("Ten: Tuyết!."));  // 6
    RegisteredTemplates d = compiled({"Ten: {{ name }}."});
    EXPECT_TRUE(d.matches("Ten: " + std::string(160, 'x') + "."));
    EXPECT_FALSE(d.matches("Ten: " + std::string(161, 'x') + "."));
}

TEST(RegisteredMatch, PathologicalInputTakesLinearWork) {
    // Many variables separated by the same one-letter literal, against 10k of that letter: a
    // backtracking matcher tries exponentially many ways to split the text here. 70 variables
    // of up to 160 characters can cover 10k characters. The work is counted, not timed: at most
    // 2 x (length + 1) positions per variable and template, some 29 million here, where a
    // backtracking matcher looks at more positions than that before its first template fails.
    std::string many;
    for (int i = 0; i < 69; ++i) many += "{{v}}a";
    std::vector<std::string> entries(20, many + "{{v}}b");
    entries.push_back(many + "{{v}}");  // ends with a variable: this one matches
    RegisteredTemplates t = compiled(entries);
    const std::size_t variables = 70;
    auto bound = [&](std::size_t length) { return entries.size() * variables * 2 * (length + 1); };
    std::size_t steps = 0;
    EXPECT_EQ(t.match(std::string(10000, 'a'), &steps), 20);
    EXPECT_GT(steps, 0u);
    EXPECT_LE(steps, bound(10000));
    steps = 0;
    EXPECT_EQ(t.match(std::string(12000, 'a'), &steps), -1);  // more than 70 x 160 + 69 cover
    EXPECT_LE(steps, bound(12000));
}

// The wording config/tinbao.example.yaml shows for eSMS, against the shipped result_ready SMS.
TEST(RegisteredMatch, ShippedResultReadySmsAgainstTheExampleWording) {
    std::vector<tpl::Error> errors;
    auto set = tpl::TemplateSet::load(std::string(TINBAO_SOURCE_DIR) + "/templates", errors);
    ASSERT_TRUE(errors.empty()) << errors.front().str();
    const tpl::StatusTemplates* st = set->find("result_ready");
    ASSERT_TRUE(st && st->sms);
    auto render = [&](const std::string& sample) {
        std::ifstream in(std::string(TINBAO_SOURCE_DIR) + "/templates/samples/" + sample);
        std::stringstream text;
        text << in.rdbuf();
        boost::json::value ctx = boost::json::parse(text.str());
        auto r = st->sms->render(ctx);
        return std::get_if<std::string>(&r) ? std::get<std::string>(r) : std::string("(error)");
    };
    RegisteredTemplates t = compiled(
        {"Ho so {{ ma_ho_so }} cua Ong/Ba {{ ten }} da co ket qua. Moi Ong/Ba den nhan tai "
         "{{ noi_nhan }}, mang theo giay hen."});
    const std::string full = render("result_ready_full.json");
    EXPECT_TRUE(t.matches(full)) << full;
    // Changing one registered word breaks the match.
    std::string changed = full;
    changed.replace(changed.find("giay hen"), 8, "giay to");
    EXPECT_FALSE(t.matches(changed));
}

}  // namespace
}  // namespace tinbao::sms
