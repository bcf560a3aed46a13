// sqltext.mjs - a small SQLite-aware scanner for the Hrana test server.
//
// The server must refuse SQL texts with no statement or with several
// statements (SQL_NO_STATEMENT, SQL_MANY_STATEMENTS), check the number of
// positional arguments (ARGS_INVALID), and describe a statement's parameters.
// The libSQL engine's JS binding exposes none of that, so this scanner walks
// the text the way SQLite's tokenizer does: quoted strings and identifiers,
// comments, parameters, and the BEGIN ... END body of CREATE TRIGGER.

const IDENT_START = /[A-Za-z_\u0080-\uffff]/;
const IDENT_CHAR = /[A-Za-z0-9_$\u0080-\uffff]/;

// Walk `sql` and return { statements, params } where statements is the
// number of non-empty statements and params describes the parameters of the
// whole text in SQLite's numbering: params[i] is the name of parameter i+1
// ("?NNN", ":name", "@name", "$name") or null for an anonymous "?".
export function scanSql(sql) {
    const params = [];
    const named = new Map();
    let maxIndex = 0;
    let statements = 0;
    let words = [];   // leading keywords of the current statement (upper case)
    let inTrigger = false;
    let nonEmpty = false;
    let lastWord = "";
    let i = 0;
    const n = sql.length;

    const setParam = (index, name) => {
        while (params.length < index) params.push(null);
        if (name !== null) params[index - 1] = name;
    };
    const endStatement = () => {
        if (nonEmpty) statements++;
        nonEmpty = false;
        words = [];
        inTrigger = false;
        lastWord = "";
    };

    while (i < n) {
        const c = sql[i];
        if (c === " " || c === "\t" || c === "\n" || c === "\r" || c === "\f") {
            i++;
        } else if (c === "-" && sql[i + 1] === "-") {
            while (i < n && sql[i] !== "\n") i++;
        } else if (c === "/" && sql[i + 1] === "*") {
            const end = sql.indexOf("*/", i + 2);
            i = end < 0 ? n : end + 2;
        } else if (c === "'" || c === '"' || c === "`" || c === "[") {
            const close = c === "[" ? "]" : c;
            i++;
            while (i < n) {
                if (sql[i] === close) {
                    if (close !== "]" && sql[i + 1] === close) {
                        i += 2;
                        continue;
                    }
                    break;
                }
                i++;
            }
            i++;
            nonEmpty = true;
            lastWord = "";
        } else if (c === ";") {
            // Inside a trigger body, only "END;" ends the statement.
            if (!inTrigger || lastWord === "END") endStatement();
            i++;
        } else if (c === "?") {
            let j = i + 1;
            while (j < n && sql[j] >= "0" && sql[j] <= "9") j++;
            if (j > i + 1) {
                const index = Number(sql.slice(i + 1, j));
                const name = sql.slice(i, j);
                if (!named.has(name)) named.set(name, index);
                maxIndex = Math.max(maxIndex, index);
                setParam(index, name);
            } else {
                maxIndex++;
                setParam(maxIndex, null);
            }
            i = j;
            nonEmpty = true;
            lastWord = "";
        } else if ((c === ":" || c === "@" || c === "$") && i + 1 < n &&
                   IDENT_CHAR.test(sql[i + 1])) {
            let j = i + 1;
            while (j < n && IDENT_CHAR.test(sql[j])) j++;
            const name = sql.slice(i, j);
            if (!named.has(name)) {
                maxIndex++;
                named.set(name, maxIndex);
                setParam(maxIndex, name);
            }
            i = j;
            nonEmpty = true;
            lastWord = "";
        } else if (IDENT_START.test(c)) {
            let j = i + 1;
            while (j < n && IDENT_CHAR.test(sql[j])) j++;
            const word = sql.slice(i, j).toUpperCase();
            if (words.length < 4) {
                words.push(word);
                if (words[0] === "CREATE" && word === "TRIGGER") inTrigger = true;
            }
            lastWord = word;
            i = j;
            nonEmpty = true;
        } else {
            i++;
            nonEmpty = true;
            lastWord = "";
        }
    }
    endStatement();
    return { statements, params };
}

// The first keyword of the SQL text, upper case ("" when there is none).
export function firstKeyword(sql) {
    const m = /^(?:\s|--[^\n]*\n?|\/\*[\s\S]*?\*\/)*([A-Za-z]+)/.exec(sql);
    return m ? m[1].toUpperCase() : "";
}
