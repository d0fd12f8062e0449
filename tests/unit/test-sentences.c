/* Unit tests of lib/text/sentences: texts cut by hand, with abbreviations,
 * initials, decimals, ellipses, quotes and odd white space. */
#include "check.h"
#include "text/sentences.h"

static ft_sentencer *sent;
static ft_rx_match *m;

/* want: the sentences separated by '|'. */
static void expect(const char *text, const char *want)
{
    ft_span *sp = NULL;
    size_t n = 0, cap = 0;
    ft_err err;
    char got[1024];
    size_t gl = 0;

    CHECK(ft_sent_split(sent, m, text, strlen(text), &sp, &n, &cap, &err) == 0);
    for (size_t i = 0; i < n; i++) {
        if (i)
            got[gl++] = '|';
        memcpy(got + gl, text + sp[i].off, sp[i].len);
        gl += sp[i].len;
    }
    got[gl] = '\0';
    CHECK_STR(got, want);
    free(sp);
}

int main(void)
{
    ft_err err;

    sent = ft_sent_new(&err);
    m = ft_rx_match_new(&err);
    CHECK(sent && m);

    expect("Dr. Smith arrived. He sat down.", "Dr. Smith arrived.|He sat down.");
    expect("It costs 3.50 dollars. Cheap!", "It costs 3.50 dollars.|Cheap!");
    expect("Pi is 3.14159 roughly.", "Pi is 3.14159 roughly.");
    expect("J. K. Rowling wrote it. Mrs. Dalloway did not.",
           "J. K. Rowling wrote it.|Mrs. Dalloway did not.");
    expect("Fruit, e.g. apples, is good. So is tea, i.e. green tea.",
           "Fruit, e.g. apples, is good.|So is tea, i.e. green tea.");
    expect("The U.S. team won. Really?! Yes", "The U.S. team won.|Really?!|Yes");
    expect("Wait... what? No way.", "Wait... what?|No way.");
    expect("Hmm... Then it ended.", "Hmm...|Then it ended.");
    expect("He said \"Go.\" Then he left.", "He said \"Go.\"|Then he left.");
    expect("(It ended.) Good.", "(It ended.)|Good.");
    expect("it was fine. i liked it.", "it was fine.|i liked it.");
    expect("  padded.   Two  \n", "padded.|Two");
    expect("Meet at 5 p.m. tomorrow. Bring tea.", "Meet at 5 p.m. tomorrow.|Bring tea.");
    expect("Ends with a dot.", "Ends with a dot.");
    expect("no punctuation at all", "no punctuation at all");
    expect("Caf\xc3\xa9 ouvert. \xc3\x89t\xc3\xa9 chaud.",
           "Caf\xc3\xa9 ouvert.|\xc3\x89t\xc3\xa9 chaud.");
    /* No-break space after the stop separates too. */
    expect("One.\xc2\xa0Two.", "One.|Two.");
    expect("", "");
    expect("   ", "");

    ft_rx_match_free(m);
    ft_sent_free(sent);
    return check_done();
}
