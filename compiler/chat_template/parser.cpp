#include "compiler/chat_template/parser.h"

#include <algorithm>

#include "compiler/chat_template/lexer.h"

namespace lmc::chat_template {

namespace {

using Kind = Token::Kind;
using ExprPtr = std::unique_ptr<Expr>;

// Deeper nesting than any chat template has is refused rather than recursed into.
constexpr int kMaxDepth = 128;

class Parser {
 public:
  explicit Parser(std::vector<Token> tokens) : t_(std::move(tokens)) {}

  Body Run() {
    std::string end;
    Body body = ParseBody({}, &end);
    return body;
  }

 private:
  const Token& Peek(size_t ahead = 0) const { return t_[std::min(i_ + ahead, t_.size() - 1)]; }
  const Token& Next() { return t_[i_ < t_.size() - 1 ? i_++ : i_]; }
  bool IsPunct(const char* p, size_t ahead = 0) const {
    return Peek(ahead).kind == Kind::kPunct && Peek(ahead).text == p;
  }
  bool IsName(const char* n, size_t ahead = 0) const {
    return Peek(ahead).kind == Kind::kName && Peek(ahead).text == n;
  }
  [[noreturn]] void Fail(const Token& at, const std::string& message) {
    throw CompileError(at.offset, message);
  }
  static std::string Describe(const Token& t) {
    switch (t.kind) {
      case Kind::kEnd:
        return "the end of the template";
      case Kind::kCloseStatement:
        return "'%}'";
      case Kind::kCloseOutput:
        return "'}}'";
      case Kind::kString:
        return "a string";
      default:
        return "'" + t.text + "'";
    }
  }
  void ExpectPunct(const char* p) {
    if (!IsPunct(p)) Fail(Peek(), std::string("expected '") + p + "', found " + Describe(Peek()));
    Next();
  }
  void Expect(Kind kind, const char* what) {
    if (Peek().kind != kind)
      Fail(Peek(), std::string("expected ") + what + ", found " + Describe(Peek()));
    Next();
  }
  std::string ExpectName(const char* what) {
    if (Peek().kind != Kind::kName)
      Fail(Peek(), std::string("expected ") + what + ", found " + Describe(Peek()));
    return Next().text;
  }

  // Parses nodes until a statement named in `ends` ({% elif %}, {% endfor %}, ...), whose name
  // goes to *end (the tag's "{%" consumed, the name not); at the top level, until the end.
  Body ParseBody(const std::vector<std::string>& ends, std::string* end) {
    Nest nest(*this);
    Body body;
    while (true) {
      const Token& t = Peek();
      if (t.kind == Kind::kEnd) {
        if (!ends.empty())
          Fail(t, "expected {% " + ends.back() + " %} before the end of the template");
        return body;
      }
      if (t.kind == Kind::kComment) {
        Next();
        continue;
      }
      if (t.kind == Kind::kText) {
        auto node = std::make_unique<Node>();
        node->kind = Node::Kind::kText;
        node->offset = t.offset;
        node->text = t.text;
        Next();
        body.push_back(std::move(node));
        continue;
      }
      if (t.kind == Kind::kOpenOutput) {
        Next();
        auto node = std::make_unique<Node>();
        node->kind = Node::Kind::kOutput;
        node->offset = t.offset;
        node->expr = ParseExpr();
        Expect(Kind::kCloseOutput, "'}}'");
        body.push_back(std::move(node));
        continue;
      }
      if (t.kind != Kind::kOpenStatement) Fail(t, "unexpected " + Describe(t));
      const Token& open = Next();
      const Token& keyword = Peek();
      if (keyword.kind != Kind::kName) Fail(keyword, "expected a statement after '{%'");
      for (const std::string& e : ends) {
        if (keyword.text == e) {
          *end = e;
          Next();
          return body;
        }
      }
      if (keyword.text == "if") {
        body.push_back(ParseIf(open));
      } else if (keyword.text == "for") {
        body.push_back(ParseFor(open));
      } else if (keyword.text == "set") {
        body.push_back(ParseSet(open));
      } else if (keyword.text == "elif" || keyword.text == "else" || keyword.text == "endif" ||
                 keyword.text == "endfor" || keyword.text == "endset") {
        Fail(keyword, "{% " + keyword.text + " %} without its opening statement");
      } else {
        Fail(keyword, "the statement {% " + keyword.text +
                          " %} is not supported by lmc's chat template compiler (it compiles "
                          "if, for and set)");
      }
    }
  }

  std::unique_ptr<Node> ParseIf(const Token& open) {
    auto node = std::make_unique<Node>();
    node->kind = Node::Kind::kIf;
    node->offset = open.offset;
    Next();  // if
    node->conditions.push_back(ParseExpr());
    Expect(Kind::kCloseStatement, "'%}'");
    while (true) {
      std::string end;
      node->bodies.push_back(ParseBody({"elif", "else", "endif"}, &end));
      if (end == "endif") break;
      if (end == "elif") {
        node->conditions.push_back(ParseExpr());
        Expect(Kind::kCloseStatement, "'%}'");
        continue;
      }
      Expect(Kind::kCloseStatement, "'%}'");  // else
      node->bodies.push_back(ParseBody({"endif"}, &end));
      break;
    }
    Expect(Kind::kCloseStatement, "'%}'");
    return node;
  }

  std::unique_ptr<Node> ParseFor(const Token& open) {
    auto node = std::make_unique<Node>();
    node->kind = Node::Kind::kFor;
    node->offset = open.offset;
    Next();  // for
    node->target = ExpectName("a loop variable");
    auto unsupported = [&node](const Token& at, const char* what) {
      if (node->unsupported.empty()) {
        node->unsupported = what;
        node->unsupported_offset = at.offset;
      }
    };
    while (IsPunct(",")) {
      unsupported(Peek(), "a for loop over several variables (unpacking)");
      Next();
      ExpectName("a loop variable");
    }
    if (!IsName("in")) Fail(Peek(), "expected 'in' after the loop variable");
    Next();
    node->expr = ParseTernaryFree();
    if (IsName("if")) {
      unsupported(Peek(), "a for loop with a filter ('for x in y if ...')");
      Next();
      ParseExpr();
    }
    if (IsName("recursive")) Fail(Peek(), "recursive for loops are not supported");
    Expect(Kind::kCloseStatement, "'%}'");
    std::string end;
    node->bodies.push_back(ParseBody({"else", "endfor"}, &end));
    if (end == "else") {
      unsupported(Peek(), "{% else %} in a for loop");
      Expect(Kind::kCloseStatement, "'%}'");
      ParseBody({"endfor"}, &end);
    }
    Expect(Kind::kCloseStatement, "'%}'");
    return node;
  }

  std::unique_ptr<Node> ParseSet(const Token& open) {
    auto node = std::make_unique<Node>();
    node->kind = Node::Kind::kSet;
    node->offset = open.offset;
    Next();  // set
    node->target = ExpectName("a variable name");
    if (IsPunct(".")) {
      Next();
      node->attribute = ExpectName("an attribute name");
    }
    if (IsPunct(",")) Fail(Peek(), "set with several targets (unpacking) is not supported");
    if (Peek().kind == Kind::kCloseStatement)
      Fail(Peek(), "block assignments ({% set x %}...{% endset %}) are not supported");
    ExpectPunct("=");
    node->expr = ParseExpr();
    Expect(Kind::kCloseStatement, "'%}'");
    return node;
  }

  ExprPtr Make(Expr::Kind kind, size_t offset) {
    auto e = std::make_unique<Expr>();
    e->kind = kind;
    e->offset = offset;
    return e;
  }

  // Sets e's depth from its operands', refusing trees deeper than a template needs (long
  // chains like a + a + ... are built in loops, not recursion).
  ExprPtr Deepen(ExprPtr e) {
    for (const ExprPtr& arg : e->args)
      if (arg) e->depth = std::max(e->depth, arg->depth + 1);
    if (e->depth > 2 * kMaxDepth)
      throw CompileError(e->offset, "an expression nested deeper than " +
                                        std::to_string(2 * kMaxDepth) + " levels is not supported");
    return e;
  }

  ExprPtr Binary(std::string op, ExprPtr a, ExprPtr b, size_t offset) {
    ExprPtr e = Make(Expr::Kind::kBinary, offset);
    e->name = std::move(op);
    e->args.push_back(std::move(a));
    e->args.push_back(std::move(b));
    return Deepen(std::move(e));
  }

  // expr: or_expr ['if' or_expr ['else' expr]]
  ExprPtr ParseExpr() {
    Nest nest(*this);
    ExprPtr value = ParseOr();
    if (!IsName("if")) return value;
    size_t at = Next().offset;
    ExprPtr e = Make(Expr::Kind::kTernary, at);
    e->args.push_back(std::move(value));
    e->args.push_back(ParseOr());
    if (IsName("else")) {
      Next();
      e->args.push_back(ParseExpr());
    }
    return Deepen(std::move(e));
  }
  // A for loop's iterable: no ternary (its 'if' is a loop filter).
  ExprPtr ParseTernaryFree() { return ParseOr(); }

  ExprPtr ParseOr() {
    ExprPtr left = ParseAnd();
    while (IsName("or")) {
      size_t at = Next().offset;
      left = Binary("or", std::move(left), ParseAnd(), at);
    }
    return left;
  }
  ExprPtr ParseAnd() {
    ExprPtr left = ParseNot();
    while (IsName("and")) {
      size_t at = Next().offset;
      left = Binary("and", std::move(left), ParseNot(), at);
    }
    return left;
  }
  ExprPtr ParseNot() {
    Nest nest(*this);
    if (IsName("not")) {
      size_t at = Next().offset;
      ExprPtr e = Make(Expr::Kind::kNot, at);
      e->args.push_back(ParseNot());
      return Deepen(std::move(e));
    }
    return ParseCompare();
  }
  ExprPtr ParseCompare() {
    ExprPtr left = ParseAdditive();
    while (true) {
      const Token& t = Peek();
      std::string op;
      if (t.kind == Kind::kPunct && (t.text == "==" || t.text == "!=" || t.text == "<" ||
                                     t.text == ">" || t.text == "<=" || t.text == ">=")) {
        op = t.text;
        Next();
      } else if (IsName("in")) {
        op = "in";
        Next();
      } else if (IsName("not") && IsName("in", 1)) {
        op = "not in";
        Next();
        Next();
      } else {
        return left;
      }
      left = Binary(op, std::move(left), ParseAdditive(), t.offset);
    }
  }
  ExprPtr ParseAdditive() {
    ExprPtr left = ParseMultiplicative();
    while (IsPunct("+") || IsPunct("-") || IsPunct("~")) {
      const Token& t = Next();
      left = Binary(t.text, std::move(left), ParseMultiplicative(), t.offset);
    }
    return left;
  }
  ExprPtr ParseMultiplicative() {
    ExprPtr left = ParseTest();
    while (IsPunct("*") || IsPunct("/") || IsPunct("//") || IsPunct("%")) {
      const Token& t = Next();
      left = Binary(t.text, std::move(left), ParseTest(), t.offset);
    }
    return left;
  }
  ExprPtr ParseTest() {
    ExprPtr operand = ParseFilter();
    while (IsName("is")) {
      size_t at = Next().offset;
      ExprPtr e = Make(Expr::Kind::kTest, at);
      if (IsName("not")) {
        Next();
        e->negated = true;
      }
      // Tests named by keywords: `is none`, `is true`, `is false`.
      e->name = ExpectName("a test name after 'is'");
      e->args.push_back(std::move(operand));
      if (IsPunct("(")) ParseArguments(e.get());
      operand = Deepen(std::move(e));
    }
    return operand;
  }
  ExprPtr ParseFilter() {
    ExprPtr operand = ParseUnary();
    while (IsPunct("|")) {
      size_t at = Next().offset;
      ExprPtr e = Make(Expr::Kind::kFilter, at);
      e->name = ExpectName("a filter name after '|'");
      e->args.push_back(std::move(operand));
      if (IsPunct("(")) ParseArguments(e.get());
      operand = Deepen(std::move(e));
    }
    return operand;
  }
  ExprPtr ParseUnary() {
    Nest nest(*this);
    if (IsPunct("-")) {
      size_t at = Next().offset;
      ExprPtr e = Make(Expr::Kind::kNeg, at);
      e->args.push_back(ParseUnary());
      return Deepen(std::move(e));
    }
    if (IsPunct("+")) Fail(Peek(), "unary '+' is not supported");
    return ParsePostfix(ParsePrimary());
  }

  // '(' args ')': positional and keyword arguments appended to e->args / e->keywords.
  void ParseArguments(Expr* e) {
    ExpectPunct("(");
    while (!IsPunct(")")) {
      if (Peek().kind == Kind::kName && IsPunct("=", 1)) {
        e->keywords.push_back(Next().text);
        Next();
      } else {
        if (IsPunct("*") || IsPunct("**")) Fail(Peek(), "argument unpacking is not supported");
        e->keywords.push_back("");
      }
      e->args.push_back(ParseExpr());
      if (!IsPunct(",")) break;
      Next();
    }
    ExpectPunct(")");
  }

  ExprPtr ParsePostfix(ExprPtr e) {
    while (true) {
      if (IsPunct(".")) {
        size_t at = Next().offset;
        ExprPtr a = Make(Expr::Kind::kAttr, at);
        a->name = ExpectName("an attribute name after '.'");
        a->args.push_back(std::move(e));
        e = Deepen(std::move(a));
      } else if (IsPunct("[")) {
        size_t at = Next().offset;
        ExprPtr parts[3];
        int n = 0;
        bool slice = false;
        while (true) {
          if (IsPunct(":")) {
            slice = true;
            if (++n > 2) Fail(Peek(), "a slice has at most two ':'");
            Next();
            continue;
          }
          if (IsPunct("]")) break;
          if (parts[n]) Fail(Peek(), "expected ':' or ']' in a subscript");
          parts[n] = ParseExpr();
        }
        Next();  // ]
        ExprPtr s = Make(slice ? Expr::Kind::kSlice : Expr::Kind::kIndex, at);
        s->args.push_back(std::move(e));
        if (!slice && !parts[0]) Fail(Peek(), "an empty subscript []");
        for (int k = 0; k < (slice ? 3 : 1); ++k)
          s->args.push_back(parts[k] ? std::move(parts[k]) : Make(Expr::Kind::kNone, at));
        e = Deepen(std::move(s));
      } else if (IsPunct("(")) {
        ExprPtr c = Make(Expr::Kind::kCall, Peek().offset);
        c->args.push_back(std::move(e));
        ParseArguments(c.get());
        e = Deepen(std::move(c));
      } else {
        return e;
      }
    }
  }

  ExprPtr ParsePrimary() {
    const Token& t = Peek();
    switch (t.kind) {
      case Kind::kString: {
        ExprPtr e = Make(Expr::Kind::kString, t.offset);
        while (Peek().kind == Kind::kString) e->text += Next().text;  // adjacent literals
        return e;
      }
      case Kind::kInt: {
        ExprPtr e = Make(Expr::Kind::kInt, t.offset);
        e->number = Next().number;
        return e;
      }
      case Kind::kName: {
        Next();
        if (t.text == "true" || t.text == "True" || t.text == "false" || t.text == "False") {
          ExprPtr e = Make(Expr::Kind::kBool, t.offset);
          e->number = t.text[0] == 't' || t.text[0] == 'T';
          return e;
        }
        if (t.text == "none" || t.text == "None") return Make(Expr::Kind::kNone, t.offset);
        ExprPtr e = Make(Expr::Kind::kName, t.offset);
        e->name = t.text;
        return e;
      }
      case Kind::kPunct:
        if (t.text == "(") {
          Next();
          if (IsPunct(")")) Fail(t, "tuples are not supported");
          ExprPtr e = ParseExpr();
          if (IsPunct(",")) Fail(Peek(), "tuples are not supported");
          ExpectPunct(")");
          return e;
        }
        if (t.text == "[") {
          Next();
          ExprPtr e = Make(Expr::Kind::kList, t.offset);
          while (!IsPunct("]")) {
            e->args.push_back(ParseExpr());
            if (!IsPunct(",")) break;
            Next();
          }
          ExpectPunct("]");
          return Deepen(std::move(e));
        }
        if (t.text == "{") {
          Next();
          ExprPtr e = Make(Expr::Kind::kUnsupported, t.offset);
          e->text = "a dict literal";
          while (!IsPunct("}")) {
            ParseExpr();
            ExpectPunct(":");
            ParseExpr();
            if (!IsPunct(",")) break;
            Next();
          }
          ExpectPunct("}");
          return e;
        }
        break;
      default:
        break;
    }
    Fail(t, "expected an expression, found " + Describe(t));
  }

  // Counts one level of nesting while alive; refuses past kMaxDepth.
  struct Nest {
    Nest(Parser& p) : p(p) {
      if (++p.depth_ > kMaxDepth)
        throw CompileError(p.Peek().offset, "nesting deeper than " + std::to_string(kMaxDepth) +
                                                " levels is not supported");
    }
    ~Nest() { --p.depth_; }
    Parser& p;
  };

  std::vector<Token> t_;
  size_t i_ = 0;
  int depth_ = 0;
};

}  // namespace

Body Parse(std::string_view source) { return Parser(Tokenize(source)).Run(); }

}  // namespace lmc::chat_template
