"""An attacker's corpus for the content guard (issue 21, item 5), written by a reviewer who
had not read the guard: what a contractor's insider would write into a campaign to get
other members' data to its recipients, and the ordinary notices an association sends that
must go out untouched.

Data, plus the set-up of the rosters (`setting_up`) and the drive of one case through the
real workflow (`drive`), used by tests/test_guard_attack_corpus.py and
bench/guard_corpus.py alike:

* three rosters, all made up (nobody real): the campaign's own (東京支部, 20 members with
  every column a Japanese association keeps), the association's full membership imported
  earlier (60, the 20 among them) and a roster of members who left, imported and then
  purged by the app's own retention code;
* DISGUISES: (class, id, subject, body_text, body_html) that leak members other than the
  recipient. Most carry two or more members' data; none carries only the data of the
  first member in roster order (SATO, the first message the worker sends), so that a guard
  that refuses before each hand-over lets no message out at all;
* NOTICES: ordinary notices (dues, meetings, elections, newsletters, seminars, safety
  checks, benefits) written with the placeholders the app supports.
"""

from __future__ import annotations

import base64
import binascii
import bz2
import codecs
import gzip
import lzma
import urllib.parse
import zlib
from dataclasses import dataclass, field
from datetime import timedelta
from email import message_from_bytes, policy

from django.conf import settings

# --- the people ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Person:
    number: str
    name: str  # 氏名, family name first, one space, as Japanese rosters keep it
    email: str
    kana: str  # フリガナ (katakana reading)
    romaji: str  # ローマ字 (as the member wrote it on the form: Hepburn without macrons)
    phone: str
    address: str
    born: str  # 生年月日, as Excel exports it
    note: str = ""  # 備考: free text

    @property
    def family(self) -> str:
        return self.name.split()[0]

    @property
    def given(self) -> str:
        return self.name.split()[1]

    @property
    def local(self) -> str:
        return self.email.split("@")[0]

    @property
    def domain(self) -> str:
        return self.email.split("@")[1]

    def row(self) -> list[str]:
        return [self.number, self.name, self.email, self.kana, self.romaji, self.phone,
                self.address, self.born, self.note]


HEADER = ["会員番号", "氏名", "メールアドレス", "フリガナ", "ローマ字", "電話番号", "住所",
          "生年月日", "備考"]
PURGED_HEADER = ["会員番号", "氏名", "メールアドレス", "フリガナ", "電話番号", "住所"]

P = Person
# The campaign's roster: 東京支部, the branch this notice goes to. The officers among them
# (OFFICERS) sign notices; the others are who a leak would expose.
TOKYO = [
    P("K204371", "佐藤 陽菜", "haruna.sato@mail.example", "サトウ ハルナ", "Sato Haruna",
      "090-2381-4407", "〒150-0001 東京都渋谷区神宮前3-12-8 コーポ青山201", "1986/04/12"),
    P("K204388", "髙橋 翔太", "s.takahashi@docomo.example", "タカハシ ショウタ",
      "Takahashi Shota", "080-5512-9034", "〒164-0001 東京都中野区中野5-41-3", "1979/11/03"),
    P("K204402", "伊藤 修", "osamu-ito@ezweb.example", "イトウ オサム", "Ito Osamu",
      "03-3941-2276", "〒112-0012 東京都文京区大塚2-9-14", "1962/07/28"),
    P("K204419", "渡邊 恵子", "keiko.w@mail.example", "ワタナベ ケイコ", "Watanabe Keiko",
      "090-7716-3082", "〒156-0043 東京都世田谷区松原1-38-5", "1971/02/19"),
    P("K204425", "山﨑 大翔", "hiroto.yamazaki@softbank.example", "ヤマザキ ヒロト",
      "Yamazaki Hiroto", "070-4435-1198", "〒136-0071 東京都江東区亀戸6-2-17 パークハイツ亀戸502",
      "1995/09/07"),
    P("K204433", "大野 勝", "m.ohno@plala.example", "オオノ マサル", "Ono Masaru",
      "042-522-8813", "〒190-0012 東京都立川市曙町2-8-30", "1958/12/01",
      "車椅子を使用。会場はエレベーター必須"),
    P("K204447", "清水 千尋", "chihiro_s@mail.example", "シミズ チヒロ", "Shimizu Chihiro",
      "090-3327-6651", "〒171-0022 東京都豊島区南池袋2-27-9", "1990/03/25",
      "人工透析のため火木土の午後は不可"),
    P("K204452", "松本 樹", "itsuki.matsumoto@icloud.example", "マツモト イツキ",
      "Matsumoto Itsuki", "080-9021-4476", "〒167-0051 東京都杉並区荻窪4-16-11", "2001/06/14"),
    P("K204468", "齋藤 由美", "yumi.saito@nifty.example", "サイトウ ユミ", "Saito Yumi",
      "03-5380-1924", "〒160-0022 東京都新宿区新宿6-7-1", "1968/10/30"),
    P("K204476", "藤田 純一", "fujita.j@mail.example", "フジタ ジュンイチ", "Fujita Junichi",
      "090-6104-2259", "〒120-0034 東京都足立区千住3-92", "1974/05/16"),
    P("K204481", "小野寺 徹", "toru.onodera@ocn.example", "オノデラ トオル", "Onodera Toru",
      "080-3358-7740", "〒143-0023 東京都大田区山王2-5-13", "1983/08/22"),
    P("K204495", "中島 さくら", "sakura.n@mail.example", "ナカジマ サクラ", "Nakajima Sakura",
      "070-8862-0315", "〒182-0022 東京都調布市国領町1-25-40", "1998/01/09",
      "産休中(2027年3月まで)"),
    P("K204503", "田中 秀和", "h-tanaka@biglobe.example", "タナカ ヒデカズ", "Tanaka Hidekazu",
      "090-1457-8826", "〒133-0057 東京都江戸川区西小岩1-19-6", "1965/04/03"),
    P("K204516", "長谷川 蓮", "ren.hasegawa@mail.example", "ハセガワ レン", "Hasegawa Ren",
      "080-2264-9917", "〒181-0013 東京都三鷹市下連雀3-33-1", "1992/12/18"),
    P("K204528", "近藤 直子", "naoko.kondo@yahoo.example", "コンドウ ナオコ", "Kondo Naoko",
      "03-3712-4480", "〒152-0004 東京都目黒区鷹番2-14-7", "1976/06/27"),
    P("K204534", "石井 翼", "tsubasa.ishii@mail.example", "イシイ ツバサ", "Ishii Tsubasa",
      "090-8843-5561", "〒114-0002 東京都北区王子1-11-2", "1988/02/05"),
    P("K204549", "吉田 美穂", "miho-y@docomo.example", "ヨシダ ミホ", "Yoshida Miho",
      "080-6615-3309", "〒206-0033 東京都多摩市落合1-46-1", "1981/09/12"),
    P("K204557", "工藤 俊介", "kudo.shunsuke@mail.example", "クドウ シュンスケ",
      "Kudo Shunsuke", "070-2290-6674", "〒173-0004 東京都板橋区板橋1-55-16", "1973/03/08"),
    P("K204562", "森 智子", "tomoko.mori@nifty.example", "モリ トモコ", "Mori Tomoko",
      "042-338-7152", "〒185-0012 東京都国分寺市本町2-7-9", "1960/11/21"),
    P("K204570", "西村 拓海", "takumi.nishimura@mail.example", "ニシムラ タクミ",
      "Nishimura Takumi", "090-5538-2047", "〒125-0062 東京都葛飾区青戸3-36-1", "1999/07/04"),
]
BY_NUMBER = {p.number: p for p in TOKYO}
SATO, TAKAHASHI, ITO, WATANABE, YAMAZAKI, ONO, SHIMIZU, MATSUMOTO, SAITO, FUJITA, ONODERA, \
    NAKAJIMA, TANAKA, HASEGAWA, KONDO, ISHII, YOSHIDA, KUDO, MORI, NISHIMURA = TOKYO

# Officers: who a notice may name (会長, 副会長, 事務局長, 会計, 監事, newly elected 理事).
# They are on the observers' list of members who may be named (issue 21, item 4; set up in
# `setting_up`); Case.named says whom each notice names.
OFFICERS = {ITO.number: "会長", KONDO.number: "事務局長", MORI.number: "会計",
            TANAKA.number: "理事", YOSHIDA.number: "監事"}

# Members of the full roster who are not in the campaign's roster (other branches).
OTHER_BRANCHES = [
    P("K201107", "濱田 雅人", "masato.hamada@mail.example", "ハマダ マサト", "Hamada Masato",
      "06-6312-4471", "〒530-0012 大阪府大阪市北区芝田1-4-8", "1969/05/02"),
    P("K201115", "櫻井 里奈", "rina.sakurai@au.example", "サクライ リナ", "Sakurai Rina",
      "090-4471-2208", "〒460-0008 愛知県名古屋市中区栄3-15-6", "1987/10/19"),
    P("K201123", "澤田 浩二", "k.sawada@ocn.example", "サワダ コウジ", "Sawada Koji",
      "011-231-5590", "〒060-0061 北海道札幌市中央区南一条西4-5", "1972/01/30"),
    P("K201138", "廣瀬 真理子", "mariko.h@mail.example", "ヒロセ マリコ", "Hirose Mariko",
      "092-711-3346", "〒810-0001 福岡県福岡市中央区天神2-8-41", "1964/08/08"),
    P("K201146", "渡邉 健太郎", "kentaro.watanabe@docomo.example", "ワタナベ ケンタロウ",
      "Watanabe Kentaro", "080-1129-7754", "〒550-0014 大阪府大阪市西区北堀江1-6-2",
      "1990/12/24"),
    P("K201154", "嶋田 裕子", "yuko.shimada@mail.example", "シマダ ユウコ", "Shimada Yuko",
      "052-962-1187", "〒461-0005 愛知県名古屋市東区東桜1-13-3", "1977/04/15"),
    P("K201169", "大城 翔", "sho.oshiro@softbank.example", "オオシロ ショウ", "Oshiro Sho",
      "098-862-4409", "〒900-0015 沖縄県那覇市久茂地3-21-1", "1996/02/11"),
    P("K201177", "河野 洋平", "yohei.kono@mail.example", "コウノ ヨウヘイ", "Kono Yohei",
      "082-247-6620", "〒730-0011 広島県広島市中区基町6-78", "1981/07/07"),
    P("K201182", "佐々木 美由紀", "miyuki.sasaki@ezweb.example", "ササキ ミユキ",
      "Sasaki Miyuki", "022-262-3315", "〒980-0811 宮城県仙台市青葉区一番町4-9-18",
      "1966/11/13"),
    P("K201196", "松浦 翔平", "shohei.m@mail.example", "マツウラ ショウヘイ", "Matsuura Shohei",
      "075-211-8843", "〒604-8005 京都府京都市中京区恵比須町530", "1993/05/28"),
    P("K201204", "高木 涼子", "ryoko.takagi@nifty.example", "タカギ リョウコ", "Takagi Ryoko",
      "078-321-9956", "〒650-0021 兵庫県神戸市中央区三宮町1-10-1", "1985/09/01"),
    P("K201219", "坂本 竜也", "tatsuya.sakamoto@mail.example", "サカモト タツヤ",
      "Sakamoto Tatsuya", "096-354-2217", "〒860-0806 熊本県熊本市中央区花畑町4-1",
      "1970/03/17"),
]
HAMADA, SAKURAI, SAWADA, HIROSE, WATANABE_K, SHIMADA, OSHIRO, KONO, SASAKI, MATSUURA, \
    TAKAGI, SAKAMOTO = OTHER_BRANCHES

_FAMILIES = [("岡田", "オカダ", "Okada"), ("前田", "マエダ", "Maeda"), ("藤井", "フジイ", "Fujii"),
             ("後藤", "ゴトウ", "Goto"), ("村上", "ムラカミ", "Murakami"),
             ("遠藤", "エンドウ", "Endo"), ("青木", "アオキ", "Aoki"), ("福田", "フクダ", "Fukuda")]
_GIVENS = [("明美", "アケミ", "Akemi"), ("大輔", "ダイスケ", "Daisuke"), ("恵", "メグミ", "Megumi"),
           ("和彦", "カズヒコ", "Kazuhiko"), ("陽子", "ヨウコ", "Yoko"),
           ("誠", "マコト", "Makoto"), ("理恵", "リエ", "Rie")]
_CITIES = ["〒530-0001 大阪府大阪市北区梅田", "〒460-0002 愛知県名古屋市中区丸の内",
           "〒060-0001 北海道札幌市中央区北一条西", "〒810-0041 福岡県福岡市中央区大名"]


def _filler(i: int) -> Person:
    """Members of the other branches that no case names: the full roster's bulk."""
    family, given = _FAMILIES[i % len(_FAMILIES)], _GIVENS[(i * 3) % len(_GIVENS)]
    return P(f"K20{1300 + i * 7:04d}", f"{family[0]} {given[0]}",
             f"{given[2].lower()}.{family[2].lower()}{i}@mail.example",
             f"{family[1]} {given[1]}", f"{family[2]} {given[2]}",
             f"090-{5100 + i * 37:04d}-{(i * 7919) % 10000:04d}",
             f"{_CITIES[i % len(_CITIES)]}{i % 9 + 1}-{i % 20 + 1}-{i % 7 + 2}",
             f"19{60 + i % 40}/{i % 12 + 1:02d}/{i % 28 + 1:02d}")


# The association's full membership, imported months ago for the general meeting: every
# branch, the 20 of 東京支部 among them, in member-number order.
FULL = sorted([*TOKYO, *OTHER_BRANCHES, *(_filler(i) for i in range(28))],
              key=lambda p: p.number)

# Members who left in 2025; mailed once ("退会手続き完了のお知らせ"), then the roster was
# purged. The contractor still has the file.
LEFT = [
    P("K190233", "井口 和也", "kazuya.iguchi@mail.example", "イグチ カズヤ", "", "090-2218-5573",
      "〒220-0011 神奈川県横浜市西区高島2-7-1", ""),
    P("K190248", "菅原 彩花", "ayaka.sugawara@docomo.example", "スガワラ アヤカ", "",
      "080-7734-1160", "〒330-0063 埼玉県さいたま市浦和区高砂1-2-1", ""),
    P("K190251", "野口 哲也", "t.noguchi@ocn.example", "ノグチ テツヤ", "", "03-3821-6604",
      "〒113-0034 東京都文京区湯島3-20-9", ""),
    P("K190266", "荒木 千夏", "chinatsu.araki@mail.example", "アラキ チナツ", "",
      "070-5521-8837", "〒260-0013 千葉県千葉市中央区中央4-5-1", ""),
    P("K190274", "服部 隆", "takashi-hattori@nifty.example", "ハットリ タカシ", "",
      "045-311-2289", "〒231-0023 神奈川県横浜市中区山下町2", ""),
    P("K190289", "杉山 奈々", "nana.sugiyama@mail.example", "スギヤマ ナナ", "", "090-6632-4415",
      "〒420-0853 静岡県静岡市葵区追手町9-6", ""),
    P("K190293", "内田 雄一", "yuichi.uchida@au.example", "ウチダ ユウイチ", "", "048-822-7731",
      "〒330-0061 埼玉県さいたま市浦和区常盤6-4-4", ""),
    P("K190307", "今井 遥", "haruka.imai@mail.example", "イマイ ハルカ", "", "080-4418-2296",
      "〒214-0014 神奈川県川崎市多摩区登戸2130", ""),
]
IGUCHI, SUGAWARA, NOGUCHI, ARAKI, HATTORI, SUGIYAMA, UCHIDA, IMAI = LEFT


def purged_row(p: Person) -> list[str]:
    return [p.number, p.name, p.email, p.kana, p.phone, p.address]


# --- the association's own contact data (never a member's) ------------------------------------

ASSOCIATION_PHONE = "03-3201-5570"
ASSOCIATION_FAX = "03-3201-5571"
SITE = "https://association.example"


def footer() -> str:
    """The footer a newsletter must end with (as tests/factories.NEWSLETTER_FOOTER)."""
    return (f"\n--\n{settings.ASSOCIATION_NAME}\n{settings.ASSOCIATION_POSTAL_ADDRESS}\n"
            f"{settings.ASSOCIATION_CONTACT}\n配信停止: {{unsubscribe_url}}\n")


# --- the cases ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    cls: str
    id: str
    subject: str
    body_text: str
    body_html: str = ""
    kind: str = "notice"
    named: tuple = field(default=())  # member numbers of the officers it names (NOTICES)

    @property
    def key(self) -> str:
        return f"{self.cls}/{self.id}"


CLASSES = {
    "columns": "columns besides number, name and address: readings, phones, postal "
               "addresses, birthdays, free text",
    "held_roster": "the association's full roster, imported earlier",
    "purged_roster": "a roster purged after use (the contractor kept the file)",
    "kana_romaji": "names in hiragana, katakana or romaji (Hepburn variants)",
    "itaiji_ruby": "variant kanji, ruby, names split or interleaved",
    "member_numbers": "member numbers with separators, full-width, kanji or other digits",
    "written_out": "addresses with @ and . written out, split, or local parts alone",
    "lookalikes": "enclosed, regional-indicator and look-alike letters of other scripts",
    "encodings": "reversed, hex, base32/64/85, compressed, link queries, entities, "
                 "invisible characters, hidden HTML",
    "other": "what else an insider would try",
}

DISGUISES: list[Case] = []


def leak(cls: str, id: str, subject: str, body_text: str, body_html: str = "") -> None:
    assert cls in CLASSES, cls
    DISGUISES.append(Case(cls, id, subject, body_text, body_html))


def notice_body(middle: str) -> str:
    """A cover story: the recipient's own salutation around the smuggled part."""
    return f"{{name}} 様\n\n{middle}\n\n東京支部 事務局\n"


# The victims a case exposes: never the first member claimed, never an officer.
PAIR = (SHIMIZU, MATSUMOTO)
TRIO = (SHIMIZU, MATSUMOTO, SAITO)
FOUR = (SHIMIZU, MATSUMOTO, SAITO, KUDO)


def emails(people, sep=", ") -> str:
    return sep.join(p.email for p in people)


def rows(people, sep="\n") -> str:
    return sep.join(f"{p.number},{p.name},{p.email}" for p in people)


def payload(people) -> str:
    """What an insider would encode: number, name and address of each."""
    return ";".join(f"{p.number},{p.name},{p.email}" for p in people)


# --- columns the guard may not read -------------------------------------------------------------

leak("columns", "kana_readings", "【東京支部】緊急連絡網の順番について",
     notice_body("連絡網の順番は次のとおりです。\n" + "\n".join(
         f"{i}. {p.kana} 様" for i, p in enumerate(FOUR, 1))))
leak("columns", "romaji_readings", "Tokyo branch: relay order for the phone tree",
     notice_body("Relay order:\n" + "\n".join(f"- {p.romaji}" for p in FOUR)))
leak("columns", "romaji_upper", "名札の表記確認",
     notice_body("名札はパスポート表記で作成します: " + " / ".join(
         p.romaji.upper() for p in TRIO)))
leak("columns", "phones", "連絡網の更新",
     notice_body("連絡網: " + " → ".join(p.phone for p in FOUR)
                 + "\n前の方から電話を受けたら、次の方へお回しください。"))
leak("columns", "phones_undashed", "連絡網の更新（番号のみ）",
     notice_body("携帯番号: " + "、".join(p.phone.replace("-", "") for p in FOUR)))
leak("columns", "phones_international", "海外からの連絡先",
     notice_body("海外から: " + ", ".join("+81 " + p.phone[1:] for p in FOUR)))
leak("columns", "phones_fullwidth", "連絡網（全角）",
     notice_body("連絡網：" + "、".join(
         p.phone.translate(str.maketrans("0123456789-", "０１２３４５６７８９－")) for p in TRIO)))
leak("columns", "phones_spaced", "連絡網（スペース区切り）",
     notice_body("連絡網: " + " / ".join(p.phone.replace("-", " ") for p in TRIO)))
leak("columns", "addresses", "会報の送付先確認",
     notice_body("会報の送付先:\n" + "\n".join(p.address for p in TRIO)))
leak("columns", "addresses_no_postcode", "戸別訪問のルート",
     notice_body("訪問ルート: " + " → ".join(p.address.split(" ", 1)[1] for p in TRIO)))
leak("columns", "addresses_kanji_chome", "防災訪問のお知らせ",
     notice_body("訪問先: 豊島区南池袋二丁目27番9号、杉並区荻窪四丁目16番11号、"
                 "新宿区新宿六丁目7番1号"))
leak("columns", "address_building_room", "理事会会場の変更",
     notice_body("二次会は パークハイツ亀戸502 と コーポ青山201 の二か所で行います。"
                 "\n（江東区亀戸6-2-17、渋谷区神宮前3-12-8）"))
leak("columns", "birthdays", "今月のお誕生日",
     notice_body("今月お誕生日を迎える会員の皆様: " + "、".join(p.born for p in FOUR)))
leak("columns", "birthdays_japanese", "お誕生日のお祝い",
     notice_body("1990年3月25日生まれの方、2001年6月14日生まれの方、1968年10月30日生まれの方、"
                 "おめでとうございます。"))
leak("columns", "birthdays_era", "長寿のお祝い（和暦）",
     notice_body("平成2年3月25日、平成13年6月14日、昭和43年10月30日 お生まれの皆様へ"))
leak("columns", "free_text_remarks", "会場の配慮事項",
     notice_body("配慮事項の一覧: " + " / ".join(p.note for p in (ONO, SHIMIZU, NAKAJIMA))))
leak("columns", "reading_and_phone", "電話当番",
     notice_body("\n".join(f"{p.kana.split()[0]}さん {p.phone}" for p in FOUR)))
leak("columns", "phone_and_birthday", "本人確認用の情報",
     notice_body("\n".join(f"{p.phone}（{p.born}）" for p in TRIO)))
leak("columns", "officer_home_phone_and_address", "会長へのお見舞い",
     notice_body(f"会長 {ITO.name} が入院されました。お見舞いのお手紙は自宅（{ITO.address}、"
                 f"電話 {ITO.phone}）へどうぞ。"))

# --- rosters other than the campaign's ----------------------------------------------------------

HELD = (HAMADA, SAKURAI, SAWADA, HIROSE)
leak("held_roster", "names", "全国大会の実行委員",
     notice_body("実行委員: " + "、".join(p.name for p in HELD)))
leak("held_roster", "emails", "他支部との連絡先",
     notice_body("他支部の窓口: " + emails(HELD)))
leak("held_roster", "single_email", "大阪支部へのお問い合わせ",
     notice_body(f"大阪支部の件は {HAMADA.email} までご連絡ください。"))
leak("held_roster", "numbers", "表彰対象者",
     notice_body("表彰対象（会員番号）: " + "、".join(p.number for p in HELD)))
leak("held_roster", "phones", "支部長の連絡先",
     notice_body("各支部: " + "、".join(p.phone for p in HELD)))
leak("held_roster", "addresses", "支部の所在地",
     notice_body("各支部の送付先:\n" + "\n".join(p.address for p in HELD)))
leak("held_roster", "name_and_email_prose", "全国の新任幹事",
     notice_body("\n".join(f"{p.name}さん（{p.email}）が幹事になりました。" for p in HELD)))
leak("held_roster", "csv_rows", "全国名簿（抜粋）",
     notice_body("会員番号,氏名,メールアドレス\n" + rows(FULL[:12])))
leak("held_roster", "space_aligned_table", "全国名簿（表）",
     notice_body("\n".join(f"{p.number}  {p.name:<8}{p.email}" for p in FULL[:10])))
leak("held_roster", "html_table", "全国の支部幹事", notice_body("HTML版をご覧ください。"),
     "<p>{name} 様</p><table>" + "".join(
         f"<tr><td>{p.number}</td><td>{p.name}</td><td>{p.email}</td></tr>" for p in HELD)
     + "</table>")
leak("held_roster", "kana_readings", "懇親会の受付名簿",
     notice_body("受付: " + "、".join(p.kana for p in HELD)))
leak("held_roster", "single_name_phone", "大阪支部の担当",
     notice_body(f"大阪の担当は {HAMADA.name}（{HAMADA.phone}）、名古屋は {SAKURAI.name}"
                 f"（{SAKURAI.phone}）です。"))
leak("held_roster", "itaiji", "支部長の交代",
     notice_body("新支部長: 浜田 雅人、桜井 里奈、沢田 浩二、広瀬 真理子"))

PURGED = (IGUCHI, SUGAWARA, NOGUCHI, ARAKI)
leak("purged_roster", "names", "退会された方々へのお礼",
     notice_body("長年ありがとうございました: " + "、".join(p.name for p in PURGED)))
leak("purged_roster", "emails", "再入会のご案内（転送のお願い）",
     notice_body("次の方々へ転送をお願いします: " + emails(PURGED)))
leak("purged_roster", "single_email", "元会員からのお便り",
     notice_body(f"元会員の {IGUCHI.email} さんからお便りが届きました。"))
leak("purged_roster", "numbers", "欠番のお知らせ",
     notice_body("次の会員番号は欠番になりました: " + "、".join(p.number for p in PURGED)))
leak("purged_roster", "phones", "旧連絡網",
     notice_body("旧連絡網: " + " → ".join(p.phone for p in PURGED)))
leak("purged_roster", "addresses", "旧会員の送付先",
     notice_body("\n".join(p.address for p in PURGED)))
leak("purged_roster", "csv_rows", "退会者名簿",
     notice_body("会員番号,氏名,メールアドレス\n" + rows(LEFT)))
leak("purged_roster", "kana", "退会者の読み",
     notice_body("、".join(p.kana for p in PURGED)))
leak("purged_roster", "name_and_email_prose", "OB会のご案内",
     notice_body("\n".join(f"{p.name}さん（{p.email}）もOB会に参加されます。" for p in PURGED)))

# --- other spellings of names -------------------------------------------------------------------

leak("kana_romaji", "hiragana", "受付の順番",
     notice_body("受付: しみず ちひろ、まつもと いつき、さいとう ゆみ、くどう しゅんすけ"))
leak("kana_romaji", "katakana_unspaced", "受付の順番（カナ）",
     notice_body("受付: シミズチヒロ、マツモトイツキ、サイトウユミ、クドウシュンスケ"))
leak("kana_romaji", "halfwidth_katakana", "受付の順番（半角カナ）",
     notice_body("受付: ｼﾐｽﾞ ﾁﾋﾛ、ﾏﾂﾓﾄ ｲﾂｷ、ｻｲﾄｳ ﾕﾐ、ｸﾄﾞｳ ｼｭﾝｽｹ"))
leak("kana_romaji", "kanji_family_kana_given", "班分け",
     notice_body("A班: 清水 ちひろ、松本 いつき、齋藤 ゆみ"))
leak("kana_romaji", "hepburn_ou", "Name badges",
     notice_body("Badges: Saitou Yumi, Kudou Shunsuke, Oono Masaru"))
leak("kana_romaji", "hepburn_oh", "Name badges (passport)",
     notice_body("Badges: SAITOH YUMI, KUDOH SHUNSUKE, OHNO MASARU"))
leak("kana_romaji", "hepburn_macron", "Name badges (macrons)",
     notice_body("Badges: Saitō Yumi, Kudō Shunsuke, Ōno Masaru"))
leak("kana_romaji", "hepburn_circumflex", "Name badges (circumflex)",
     notice_body("Badges: Saitô Yumi, Kudô Shunsuke, Ôno Masaru"))
leak("kana_romaji", "kunrei_si_tu", "Name badges (kunrei)",
     notice_body("Badges: Simizu Tihiro, Matumoto Ituki, Isii Tubasa, Huzita Zyun'iti"))
leak("kana_romaji", "given_first", "Welcome to the new committee",
     notice_body("Welcome: Chihiro Shimizu, Itsuki Matsumoto, Yumi Saito, Shunsuke Kudo"))
leak("kana_romaji", "romaji_unspaced", "login ids",
     notice_body("ids: shimizuchihiro / matsumotoitsuki / saitoyumi / kudoshunsuke"))
leak("kana_romaji", "romaji_n_apostrophe", "Name list",
     notice_body("Fujita Jun'ichi, Fujita Jun-ichi, Hasegawa Ren, Nishimura Takumi"))

# --- variant kanji, ruby, split names -----------------------------------------------------------

leak("itaiji_ruby", "shinjitai_for_kyujitai", "新年会の席次",
     notice_body("席次: 高橋 翔太、山崎 大翔、斎藤 由美、渡辺 恵子"))
leak("itaiji_ruby", "other_variants", "新年会の席次（別表記）",
     notice_body("席次: 渡邉 恵子、斉藤 由美、山嵜 大翔"))
leak("itaiji_ruby", "kyujitai_for_shinjitai", "全国幹事（旧字）",
     notice_body("幹事: 髙木 涼子、嶌田 裕子、濵田 雅人"))
leak("itaiji_ruby", "aozora_ruby", "朗読会の出演者",
     notice_body("出演: 清水《しみず》千尋《ちひろ》、松本《まつもと》樹《いつき》、"
                 "齋藤《さいとう》由美《ゆみ》"))
leak("itaiji_ruby", "parenthesised_reading", "出演者（ふりがな付き）",
     notice_body("清(し)水(みず) 千(ち)尋(ひろ)、松(まつ)本(もと) 樹(いつき)、"
                 "工(く)藤(どう) 俊(しゅん)介(すけ)"))
leak("itaiji_ruby", "html_ruby", "出演者（HTML）", notice_body("HTML版をご覧ください。"),
     "<p>{name} 様</p><p>出演: <ruby>清水<rt>しみず</rt></ruby> <ruby>千尋<rt>ちひろ</rt></ruby>、"
     "<ruby>松本<rt>まつもと</rt></ruby> <ruby>樹<rt>いつき</rt></ruby>、"
     "<ruby>工藤<rt>くどう</rt></ruby> <ruby>俊介<rt>しゅんすけ</rt></ruby></p>")
leak("itaiji_ruby", "split_by_line_break", "表彰",
     notice_body("表彰者\n清水\n千尋\n松本\n樹\n工藤\n俊介"))
leak("itaiji_ruby", "interleaved_dots", "表彰（中黒）",
     notice_body("表彰者: 清・水・千・尋、松・本・樹、工・藤・俊・介"))
leak("itaiji_ruby", "interleaved_emoji", "表彰（絵文字）",
     notice_body("表彰者: 清🌸水🌸千🌸尋、松🌸本🌸樹、工🌸藤🌸俊🌸介"))
leak("itaiji_ruby", "kangxi_radicals", "席次（部首）",
     notice_body("席次: \u2f2d﨑 大翔、\u2ec4村 拓海、\u2f2f藤 俊介"))
leak("itaiji_ruby", "family_in_subject_given_in_body", "清水・松本・工藤 各位",
     notice_body("千尋さん、樹さん、俊介さん、打ち合わせの件です。"))

# --- member numbers -----------------------------------------------------------------------------

NUMS = [p.number for p in FOUR]


def _digits(number: str, zero: int) -> str:
    return number[0] + "".join(chr(zero + int(d)) for d in number[1:])


leak("member_numbers", "hyphenated", "当選番号",
     notice_body("当選: " + "、".join(f"{n[:1]}-{n[1:4]}-{n[4:]}" for n in NUMS)))
leak("member_numbers", "spaced", "当選番号（スペース）",
     notice_body("当選: " + "、".join(f"{n[:1]} {n[1:4]} {n[4:]}" for n in NUMS)))
leak("member_numbers", "fullwidth", "当選番号（全角）",
     notice_body("当選: " + "、".join(_digits(n, 0xFF10).replace("K", "Ｋ") for n in NUMS)))
leak("member_numbers", "kanji_numerals", "当選番号（漢数字）",
     notice_body("当選: " + "、".join(
         "K" + n[1:].translate(str.maketrans("0123456789", "〇一二三四五六七八九")) for n in NUMS)))
leak("member_numbers", "kanji_positional", "当選番号（漢数字・位取り）",
     notice_body("当選: K二十万四千四百四十七番、K二十万四千四百五十二番、"
                 "K二十万四千四百六十八番"))
leak("member_numbers", "arabic_indic", "Winning numbers",
     notice_body("Winners: " + ", ".join(_digits(n, 0x660) for n in NUMS)))
leak("member_numbers", "devanagari", "Winning numbers (2)",
     notice_body("Winners: " + ", ".join(_digits(n, 0x966) for n in NUMS)))
leak("member_numbers", "mathematical_digits", "Winning numbers (3)",
     notice_body("Winners: " + ", ".join(_digits(n, 0x1D7CE) for n in NUMS)))
leak("member_numbers", "circled_digits", "当選番号（丸数字）",
     notice_body("当選: " + "、".join(
         "K" + "".join("⓪①②③④⑤⑥⑦⑧⑨"[int(d)] for d in n[1:]) for n in NUMS)))
leak("member_numbers", "keycap_digits", "当選番号（絵文字）",
     notice_body("当選: " + "、".join(
         "K" + "".join(d + "\ufe0f\u20e3" for d in n[1:]) for n in NUMS)))
leak("member_numbers", "thai_digits", "当選番号（タイ数字）",
     notice_body("当選: " + "、".join(_digits(n, 0xE50) for n in NUMS)))
leak("member_numbers", "digits_only", "当選番号（数字のみ）",
     notice_body("当選: " + "、".join(n[1:] for n in NUMS)))
leak("member_numbers", "lowercase_prefix_suffix", "当選番号（号）",
     notice_body("当選: " + "、".join(n.lower() + "号" for n in NUMS)))
leak("member_numbers", "letter_o_for_zero", "当選番号（O）",
     notice_body("当選: " + "、".join(n.replace("0", "O") for n in NUMS)))
leak("member_numbers", "split_across_lines", "当選番号（改行）",
     notice_body("当選:\n" + "\n".join(f"K204\n{n[4:]}" for n in NUMS)))
leak("member_numbers", "common_prefix_factored", "当選番号（下3桁）",
     notice_body("当選: K204 の 447・452・468・557 番の方"))

# --- addresses written out ----------------------------------------------------------------------


def written(p: Person, at: str, dot: str) -> str:
    return p.email.replace(".", dot).replace("@", at)


leak("written_out", "atmark_dot_katakana", "幹事の連絡先",
     notice_body("\n".join(written(p, " アットマーク ", " ドット ") for p in TRIO)))
leak("written_out", "atto_dotto_hiragana", "幹事の連絡先（ひらがな）",
     notice_body("\n".join(written(p, "あっと", "どっと") for p in TRIO)))
leak("written_out", "fullwidth_at_dot", "幹事の連絡先（全角）",
     notice_body("\n".join(written(p, "＠", "．") for p in TRIO)))
leak("written_out", "english_at_dot", "Contacts",
     notice_body("\n".join(written(p, " at ", " dot ") for p in TRIO)))
leak("written_out", "bracketed_at_dot", "Contacts (brackets)",
     notice_body("\n".join(written(p, "[at]", "[dot]") for p in TRIO)))
leak("written_out", "star_for_at", "連絡先（★を@に）",
     notice_body("★を@に変えてください: " + "、".join(written(p, "★", ".") for p in TRIO)))
leak("written_out", "kanji_for_at", "連絡先（漢字）",
     notice_body("、".join(written(p, "（単価記号）", "（点）") for p in TRIO)))
leak("written_out", "local_parts_alone", "メールアドレスの変更",
     notice_body("ドメインは全員 mail.example です: chihiro_s、fujita.j、sakura.n、"
                 "ren.hasegawa"))
leak("written_out", "split_subject_body", "連絡先: chihiro_s / fujita.j / sakura.n",
     notice_body("（いずれも @mail.example）"))
leak("written_out", "split_at_the_seam", f"幹事の連絡先は {SHIMIZU.local}",
     f"@{SHIMIZU.domain} です。\n\n{{name}} 様\n\n幹事への連絡は上記までお願いします。\n")
leak("written_out", "split_by_line", "連絡先（改行）",
     notice_body("\n".join(f"{p.local}\n@{p.domain}" for p in TRIO)))
leak("written_out", "plus_tag", "配信テスト",
     notice_body("テスト宛先: " + ", ".join(p.email.replace("@", "+news@") for p in TRIO)))
leak("written_out", "plus_tag_in_prose", "配信テスト（文中）",
     notice_body("".join(f"テスト{i}は {p.email.replace('@', '+news@')} に送ります。"
                         for i, p in enumerate(TRIO, 1))))
leak("written_out", "upper_case", "CONTACTS",
     notice_body(emails(TRIO).upper()))
leak("written_out", "mailto_href_only", "事務局への連絡",
     notice_body("HTML版のリンクからどうぞ。"),
     "<p>{name} 様</p><p>" + "".join(f'<a href="mailto:{p.email}">担当{i}</a> '
                                     for i, p in enumerate(TRIO, 1)) + "</p>")
leak("written_out", "mailto_many_recipients", "幹事へ一斉連絡",
     notice_body("HTML版のリンクからどうぞ。"),
     f'<p>{{name}} 様</p><p><a href="mailto:{",".join(p.email for p in TRIO)}">幹事全員へ</a></p>')
leak("written_out", "spaced_letters", "Contacts (spaced)",
     notice_body("\n".join(" ".join(p.email) for p in TRIO)))

# --- look-alike letters -------------------------------------------------------------------------


def mapped(text: str, table: dict) -> str:
    return "".join(table.get(c, c) for c in text)


def _offset_letters(first: int) -> dict:
    return {chr(ord("a") + i): chr(first + i) for i in range(26)}


CIRCLED = _offset_letters(0x24D0)
PARENTHESISED = _offset_letters(0x249C)
REGIONAL = _offset_letters(0x1F1E6)
SQUARED = {c: chr(0x1F130 + i) for i, c in enumerate("abcdefghijklmnopqrstuvwxyz")}
NEGATIVE_SQUARED = {c: chr(0x1F170 + i) for i, c in enumerate("abcdefghijklmnopqrstuvwxyz")}
FULLWIDTH = {chr(c): chr(c + 0xFEE0) for c in range(0x21, 0x7F)}
MATH_BOLD = _offset_letters(0x1D41A)
MATH_MONO = _offset_letters(0x1D68A)
CYRILLIC = dict(zip("aceiopxyhs", "асеіорхуһѕ", strict=True))
GREEK = dict(zip("aikotuvxy", "αικοτυνχγ", strict=True))
OTHER_SCRIPTS = {"a": "ɑ", "c": "ᴄ", "d": "ԁ", "e": "ҽ", "g": "ɡ", "h": "հ", "i": "ı", "j": "ϳ",
                 "l": "ⅼ", "m": "ｍ", "n": "ո", "o": "օ", "p": "р", "q": "ԛ", "s": "ꜱ",
                 "u": "ս", "w": "ԝ", "x": "ⅹ", "y": "у", "z": "ᴢ", ".": "．", "_": "＿"}
SMALL_CAPS = {"a": "ᴀ", "b": "ʙ", "c": "ᴄ", "d": "ᴅ", "e": "ᴇ", "f": "ꜰ", "g": "ɢ", "h": "ʜ",
              "i": "ɪ", "j": "ᴊ", "k": "ᴋ", "l": "ʟ", "m": "ᴍ", "n": "ɴ", "o": "ᴏ", "p": "ᴘ",
              "r": "ʀ", "s": "ꜱ", "t": "ᴛ", "u": "ᴜ", "v": "ᴠ", "w": "ᴡ", "y": "ʏ", "z": "ᴢ"}


def _lookalike(id: str, subject: str, table: dict) -> None:
    leak("lookalikes", id, subject, notice_body("\n".join(mapped(p.email, table)
                                                          for p in TRIO)))


_lookalike("circled_letters", "連絡先（丸囲み）", CIRCLED)
_lookalike("parenthesised_letters", "連絡先（括弧付き）", PARENTHESISED)
_lookalike("regional_indicators", "連絡先（国旗文字）", REGIONAL)
_lookalike("squared_letters", "連絡先（四角囲み）", SQUARED)
_lookalike("negative_squared_letters", "連絡先（黒四角）", NEGATIVE_SQUARED)
_lookalike("fullwidth_letters", "連絡先（全角英字）", FULLWIDTH)
_lookalike("math_bold", "Contacts (bold)", MATH_BOLD)
_lookalike("math_monospace", "Contacts (monospace)", MATH_MONO)
_lookalike("cyrillic", "Contacts (Cyrillic)", CYRILLIC)
_lookalike("greek", "Contacts (Greek)", GREEK)
_lookalike("other_scripts", "Contacts (IPA, Armenian, Cherokee...)", OTHER_SCRIPTS)
_lookalike("small_capitals", "Contacts (small capitals)", SMALL_CAPS)
leak("lookalikes", "romaji_names_cyrillic", "Name badges (Cyrillic)",
     notice_body(", ".join(mapped(p.romaji.lower(), CYRILLIC) for p in FOUR)))
leak("lookalikes", "romaji_names_regional", "Name badges (flags)",
     notice_body(", ".join(mapped(p.romaji.lower(), REGIONAL) for p in FOUR)))
# Katakana and kanji that look alike: エ/工, ニ/二, タ/夕, ハ/八, ト/卜, カ/力, ロ/口.
leak("lookalikes", "kana_kanji_lookalikes", "席次（カナ混じり）",
     notice_body("席次: エ藤 俊介、二シムラ 夕クミ、八セガワ レン、マツモ卜 イツキ"))

# --- encodings ----------------------------------------------------------------------------------

SECRET = payload(TRIO)
SECRET_BYTES = SECRET.encode()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def braces(text: str) -> str:
    """Literal braces, as a template must write them."""
    return text.replace("{", "{{").replace("}", "}}")


def _wrapped(text: str, width: int = 24) -> str:
    return "\n".join(text[i:i + width] for i in range(0, len(text), width))


def _invisible(text: str, mark: str) -> str:
    return mark.join(text)


def _tags(text: str) -> str:
    """Unicode tag characters: ASCII written invisibly ("ASCII smuggling")."""
    return "".join(chr(0xE0000 + ord(c)) for c in text)


def _variation_selectors(data: bytes) -> str:
    """Each byte as one of the 256 variation selectors after a visible emoji."""
    return "😀" + "".join(chr(0xFE00 + b) if b < 16 else chr(0xE0100 + b - 16) for b in data)


def _entities(text: str, hexadecimal: bool = False) -> str:
    return "".join(f"&#x{ord(c):x};" if hexadecimal else f"&#{ord(c)};" for c in text)


three_times = b64(b64(b64(SECRET_BYTES).encode()).encode())
leak("encodings", "reversed_addresses", "送信テスト（逆順）",
     notice_body("確認コード: " + emails(TRIO)[::-1]))
leak("encodings", "reversed_addresses_in_prose", "送信テスト（逆順・文中）",
     notice_body("".join(f"{i}番目の確認コードは「{p.email[::-1]}」です。"
                         for i, p in enumerate(TRIO, 1))))
leak("encodings", "reversed_names", "逆さ言葉クイズ",
     notice_body("答え: " + "、".join(p.name[::-1] for p in FOUR)))
leak("encodings", "reversed_rows", "暗号クイズ", notice_body(SECRET[::-1]))
leak("encodings", "hex", "認証コード", notice_body("コード: " + SECRET_BYTES.hex()))
leak("encodings", "hex_spaced", "認証コード（区切り）",
     notice_body("コード: " + SECRET_BYTES.hex(" ")))
leak("encodings", "hex_upper_escaped", "認証コード（\\x）",
     notice_body("コード: " + "".join(f"\\x{b:02X}" for b in SECRET_BYTES)))
leak("encodings", "base32", "認証コード（base32）",
     notice_body("コード: " + base64.b32encode(SECRET_BYTES).decode()))
leak("encodings", "base32_unpadded_lower", "認証コード（base32 小文字）",
     notice_body("コード: " + base64.b32encode(SECRET_BYTES).decode().rstrip("=").lower()))
leak("encodings", "base64_once", "認証コード（base64）",
     notice_body("コード: " + b64(SECRET_BYTES)))
leak("encodings", "base64_twice", "認証コード（二重）",
     notice_body("コード: " + b64(b64(SECRET_BYTES).encode())))
leak("encodings", "base64_three_times", "認証コード（三重）", notice_body("コード: " + three_times))
leak("encodings", "base64_urlsafe_unpadded", "認証コード（URL安全）",
     notice_body("コード: " + base64.urlsafe_b64encode(SECRET_BYTES).decode().rstrip("=")))
leak("encodings", "base64_wrapped_lines", "認証コード（折り返し）",
     notice_body("コード:\n" + _wrapped(b64(SECRET_BYTES))))
leak("encodings", "base64_utf16", "認証コード（UTF-16）",
     notice_body("コード: " + b64(SECRET.encode("utf-16-le"))))
leak("encodings", "base64_shift_jis", "認証コード（Shift_JIS）",
     notice_body("コード: " + b64(SECRET.encode("cp932"))))
leak("encodings", "ascii85", "認証コード（Ascii85）",
     notice_body("コード: " + base64.a85encode(SECRET_BYTES).decode()))
leak("encodings", "base85", "認証コード（Base85）",
     notice_body("コード: " + braces(base64.b85encode(SECRET_BYTES).decode())))
leak("encodings", "gzip_base64", "認証コード（gzip）",
     notice_body("コード: " + b64(gzip.compress(payload(FULL[:20]).encode(), mtime=0))))
leak("encodings", "zlib_base85", "認証コード（zlib）",
     notice_body("コード: " + braces(base64.b85encode(zlib.compress(SECRET_BYTES)).decode())))
leak("encodings", "bz2_hex", "認証コード（bz2）",
     notice_body("コード: " + bz2.compress(SECRET_BYTES).hex()))
leak("encodings", "lzma_base32", "認証コード（xz）",
     notice_body("コード: " + base64.b32encode(lzma.compress(SECRET_BYTES)).decode()))
leak("encodings", "uuencode", "認証コード（uu）",
     notice_body("begin 644 code.txt\n" + "".join(
         binascii.b2a_uu(SECRET_BYTES[i:i + 45]).decode()
         for i in range(0, len(SECRET_BYTES), 45)) + "`\nend"))
leak("encodings", "rot13", "Puzzle (ROT13)", notice_body(codecs.encode(emails(TRIO), "rot13")))
leak("encodings", "binary", "Puzzle (bits)",
     notice_body(" ".join(f"{b:08b}" for b in emails(PAIR).encode())))
leak("encodings", "decimal_codes", "Puzzle (codes)",
     notice_body(" ".join(str(b) for b in emails(PAIR).encode())))
leak("encodings", "octal_escapes", "Puzzle (octal)",
     notice_body("".join(f"\\{b:03o}" for b in emails(PAIR).encode())))
leak("encodings", "json_unicode_escapes", "データ連携の設定",
     notice_body("設定値: " + "".join(f"\\u{ord(c):04x}" for c in "、".join(
         p.name for p in FOUR))))
leak("encodings", "quoted_printable_names", "文字化けのお詫び",
     notice_body("元の文字: " + "".join(f"={b:02X}" for b in "、".join(
         p.name for p in FOUR).encode())))
leak("encodings", "percent_encoded_names", "文字化けのお詫び（URL）",
     notice_body("元の文字: " + urllib.parse.quote("、".join(p.name for p in FOUR))))
leak("encodings", "punycode_names", "支部サイトのご案内",
     notice_body("各班のページ: " + "、".join(
         f"https://{p.name.replace(' ', '').encode('idna').decode()}.association.example/"
         for p in TRIO)))
leak("encodings", "url_query_plain", "アンケートのお願い",
     notice_body("回答はこちら: " + SITE + "/survey?" + urllib.parse.urlencode(
         {f"m{i}": p.email for i, p in enumerate(TRIO, 1)})))
leak("encodings", "url_query_base64", "アンケートのお願い（2）",
     notice_body(f"回答はこちら: {SITE}/survey?ref=" + base64.urlsafe_b64encode(
         SECRET_BYTES).decode()))
leak("encodings", "url_query_hex", "アンケートのお願い（3）",
     notice_body(f"回答はこちら: {SITE}/survey?session=" + SECRET_BYTES.hex()))
leak("encodings", "url_query_map_addresses", "訪問先の地図",
     notice_body("地図: " + " ".join(
         "https://maps.example/?q=" + urllib.parse.quote(p.address.split(" ", 1)[1])
         for p in TRIO)))
leak("encodings", "url_path_base32", "会報のダウンロード",
     notice_body(f"ダウンロード: {SITE}/d/" + base64.b32encode(SECRET_BYTES).decode().rstrip(
         "=").lower() + "/kaiho.pdf"))
leak("encodings", "url_fragment_html", "会報（HTML）", notice_body("HTML版をご覧ください。"),
     f'<p>{{name}} 様</p><p><a href="{SITE}/kaiho#{urllib.parse.quote(SECRET)}">会報</a></p>')
leak("encodings", "html_decimal_entities", "会報（HTML 2）", notice_body("HTML版をご覧ください。"),
     "<p>{name} 様</p><p>" + _entities(emails(TRIO)) + "</p>")
leak("encodings", "html_hex_entities_names", "会報（HTML 3）",
     notice_body("HTML版をご覧ください。"),
     "<p>{name} 様</p><p>" + _entities("、".join(p.name for p in FOUR), True) + "</p>")
leak("encodings", "html_named_entities", "会報（HTML 4）", notice_body("HTML版をご覧ください。"),
     "<p>{name} 様</p><p>" + emails(TRIO).replace("@", "&commat;").replace(".", "&period;")
     + "</p>")
leak("encodings", "css_hidden_span", "会報（HTML 5）", notice_body("HTML版をご覧ください。"),
     '<p>{name} 様</p><p>今月の会報です。<span style="display:none;font-size:0">'
     + "、".join(f"{p.kana} {p.phone}" for p in FOUR) + "</span></p>")
leak("encodings", "link_title_attribute", "会報（HTML 6）", notice_body("HTML版をご覧ください。"),
     f'<p>{{name}} 様</p><p><a href="{SITE}/kaiho" title="{emails(TRIO)}">会報</a></p>')
leak("encodings", "zero_width_space", "お知らせ（ZWSP）",
     notice_body(_invisible(emails(TRIO), "\u200b")))
leak("encodings", "invisible_separators", "お知らせ（不可視）",
     notice_body(_invisible("、".join(p.name for p in FOUR), "\u2063")))
leak("encodings", "hangul_filler", "お知らせ（ハングルフィラー）",
     notice_body(_invisible(emails(TRIO), "\u3164")))
leak("encodings", "mongolian_vowel_separator", "お知らせ（MVS）",
     notice_body(_invisible(emails(TRIO), "\u180e")))
leak("encodings", "unicode_tag_characters", "お知らせ（タグ文字）",
     notice_body("いつもありがとうございます。" + _tags(emails(TRIO))))
leak("encodings", "variation_selectors", "お知らせ（絵文字）",
     notice_body("今月もよろしくお願いします " + _variation_selectors(SECRET_BYTES)))

# --- anything else -------------------------------------------------------------------------------

leak("other", "vertical_writing", "縦書きの挨拶",
     notice_body("\n".join("清水千尋　松本樹")))
leak("other", "acrostic", "折句の会",
     notice_body("清らかな\n水の流れに\n千の星\n尋ねる人の\n松の影\n本を開けば\n樹の香り"))
leak("other", "interleaved_filler", "抽選",
     notice_body("当選コード: " + "".join(c + "x" for c in emails(PAIR))))
leak("other", "html_only_leak", "会報（テキスト版は空）", notice_body("今月の会報です。"),
     "<p>{name} 様</p><p>今月の会報です。</p><p>" + "<br>".join(
         f"{p.name} {p.phone}" for p in FOUR) + "</p>")
leak("other", "subject_only", f"{SHIMIZU.name}・{MATSUMOTO.name}・{SAITO.name} 各位",
     notice_body("打ち合わせの件、よろしくお願いします。"))
leak("other", "buried_at_the_end", "会報 全文",
     notice_body("今月の会報です。\n" + "会員の皆様のご協力に感謝いたします。\n" * 1500
                 + "以上\n" + emails(TRIO)))
leak("other", "non_officer_among_officers", "役員会のメンバー",
     notice_body(f"役員会: 会長 {ITO.name}、事務局長 {KONDO.name}、{SHIMIZU.name}、{KUDO.name}"))
leak("other", "one_other_members_name", "本件の担当",
     notice_body(f"本件の担当は {SHIMIZU.name} さんです。ご不明な点は担当までお尋ねください。"))
leak("other", "mixed_case_address", "連絡先",
     notice_body("、".join(p.email.title() for p in TRIO)))
leak("other", "roster_as_prose", "今月の担当",
     notice_body("今月の担当は清水さん（090-3327-6651、南池袋2-27-9）、"
                 "松本さん（080-9021-4476、荻窪4-16-11）です。"))
leak("other", "contact_person_pretext", "お問い合わせ先の変更",
     notice_body(f"お問い合わせは担当の {SHIMIZU.name}（{SHIMIZU.phone}、{SHIMIZU.email}）"
                 f"または {MATSUMOTO.name}（{MATSUMOTO.phone}）まで。"))
leak("other", "morse", "モールス信号クイズ",
     notice_body(" ".join({"a": ".-", "b": "-...", "c": "-.-.", "d": "-..", "e": ".",
                           "f": "..-.", "g": "--.", "h": "....", "i": "..", "j": ".---",
                           "k": "-.-", "l": ".-..", "m": "--", "n": "-.", "o": "---",
                           "p": ".--.", "q": "--.-", "r": ".-.", "s": "...", "t": "-",
                           "u": "..-", "v": "...-", "w": ".--", "x": "-..-", "y": "-.--",
                           "z": "--..", "@": ".--.-.", ".": ".-.-.-", "_": "..--.-",
                           ",": "--..--", " ": "/"}[c] for c in emails(PAIR))))
leak("other", "phone_in_kanji", "連絡網（漢数字）",
     notice_body("連絡網: " + "、".join(p.phone.translate(str.maketrans(
         "0123456789-", "〇一二三四五六七八九ー")) for p in TRIO)))
leak("other", "domain_in_link_local_in_text", "連絡先（リンク）", notice_body(
    "HTML版をご覧ください。"),
     '<p>{name} 様</p><p>chihiro_s / fujita.j / sakura.n '
     '<a href="https://mail.example/">@ この会社</a></p>')
leak("other", "table_of_numbers_and_kana", "座席表",
     notice_body("\n".join(f"{p.number[4:]} {p.kana}" for p in FOUR)))


# --- ordinary notices that must go out -----------------------------------------------------------

NOTICES: list[Case] = []
CONTACT = (f"お問い合わせ：{settings.ASSOCIATION_NAME} 事務局 電話 {ASSOCIATION_PHONE}、"
           f"FAX {ASSOCIATION_FAX}、メール {settings.ASSOCIATION_CONTACT}")


def notice(id: str, subject: str, body_text: str, body_html: str = "", *, kind="notice",
           named=()) -> None:
    NOTICES.append(Case("notice", id, subject, body_text, body_html, kind,
                        tuple(p.number for p in named)))


def newsletter(id: str, subject: str, body_text: str, body_html: str = "") -> None:
    notice(id, subject, body_text + footer(), body_html, kind="newsletter")


def _signed(*officers) -> str:
    return "\n".join(f"{OFFICERS[p.number]} {p.name}" for p in officers)


notice("dues", "2027年度 年会費のお支払いについて",
       "{name} 様（会員番号 {member_number}）\n\n"
       "2027年度の年会費 12,000円 を、2027年1月31日までにお振り込みください。\n"
       "振込先: みずほ銀行 丸の内支店 普通 1234567\n"
       "口座名義: イッパンシャダンホウジン サンプルカイインキョウカイ\n"
       "振込名義の前に会員番号をご記入ください（例: {member_number} サトウ ハナコ）。\n\n" + CONTACT
       + "\n")
notice("dues_direct_debit", "年会費の口座振替日のお知らせ",
       "{name} 様\n\n年会費 12,000円 は 2027年1月27日（水）にご登録の口座から振り替えます。\n"
       "残高のご確認をお願いいたします。\n\n" + CONTACT + "\n")
notice("dues_reminder", "【再送】年会費 未納のお知らせ",
       "{name} 様\n\n2026年度の年会費（12,000円）のご入金が確認できておりません。\n"
       "行き違いでお振り込みいただいている場合はご容赦ください。\n"
       "ゆうちょ銀行 記号 10180 番号 12345671 でもお振り込みいただけます。\n\n" + CONTACT + "\n")
notice("dues_revision", "会費改定のお知らせ",
       "{name} 様\n\n2027年4月1日から、正会員の年会費を 12,000円 から 13,200円（税込）に"
       "改定します。\n"
       "学生会員は 3,000円 のまま据え置きます。\n詳しくは " + SITE + "/dues をご覧ください。\n")
notice("agm", "第38回 定時総会 開催のご通知",
       "{name} 様\n\n第38回定時総会を下記のとおり開催いたします。\n\n"
       "日時: 2027年5月22日（土）13:30〜16:00（受付 13:00〜）\n"
       "会場: 東京都千代田区千代田1-1 協会会館 3階 大会議室\n"
       "議案: 第1号議案 2026年度事業報告、第2号議案 決算報告、第3号議案 役員選任\n\n"
       "ご欠席の場合は、同封の委任状を5月15日までにご返送ください。\n\n"
       + _signed(ITO, KONDO) + "\n", named=(ITO, KONDO))
notice("agm_minutes", "定時総会 議事録公開のお知らせ",
       "{name} 様\n\n第37回定時総会の議事録を会員専用ページに掲載しました。\n"
       + SITE + "/members/minutes/2026\n\n議長 " + ITO.name + "、議事録署名人 " + MORI.name
       + "\n", named=(ITO, MORI))
notice("election_result", "役員選挙 結果のお知らせ",
       "{name} 様\n\n2026年11月の役員選挙の結果、次の方が選任されました。\n"
       "理事 " + TANAKA.name + "、監事 " + YOSHIDA.name + "、会計 " + MORI.name + "\n"
       "任期は2027年4月1日から2年間です。\n\n選挙管理委員会\n",
       named=(TANAKA, YOSHIDA, MORI))
notice("election_call", "役員選挙 立候補受付のお知らせ",
       "{name} 様\n\n理事3名、監事1名の選挙を行います。立候補の受付は2026年12月1日から"
       "12月15日までです。\n届出書は " + SITE + "/election からダウンロードできます。\n\n"
       "選挙管理委員長 " + MORI.name + "\n", named=(MORI,))
newsletter("newsletter_winter", "会報 冬号（第112号）",
           "{name} 様\n\n会報 冬号をお届けします。\n\n"
           "■ 会長あいさつ（" + ITO.name + "）\n■ 支部だより: 東京支部の新年会\n"
           "■ 共済制度のご案内\n\n全文は " + SITE + "/kaiho/112 でご覧いただけます。\n")
newsletter("newsletter_html", "会報 号外",
           "{name} 様\n\n会報 号外をお届けします。HTML版もあります。\n",
           "<p>{name} 様</p><p>会報 号外をお届けします。</p>"
           f'<p><a href="{SITE}/kaiho/extra">Web版はこちら</a></p>'
           "<hr><p>" + settings.ASSOCIATION_NAME + "<br>" + settings.ASSOCIATION_POSTAL_ADDRESS
           + "<br>" + settings.ASSOCIATION_CONTACT
           + '<br><a href="{unsubscribe_url}">配信停止</a></p>')
newsletter("newsletter_events", "イベント情報 12月号",
           "{name} 様\n\n12月のイベント:\n・12月4日（金）18:30 東京支部 忘年会（会費 5,000円）\n"
           "・12月12日（土）10:00 清掃ボランティア（集合: 日比谷公園 噴水前）\n")
notice("seminar", "実務セミナー（12月4日）のご案内",
       "{name} 様\n\n実務セミナーを開催します。\n\n"
       "日時: 2026年12月4日（金）14:00〜16:30\n会場: 協会会館 2階 研修室\n"
       "参加費: 会員 3,000円 / 非会員 5,000円（当日現金払い）\n定員: 40名（先着順）\n"
       "お申し込み: " + SITE + "/seminar/20261204\n\n" + CONTACT + "\n")
notice("training_online", "オンライン研修会のご案内",
       "{name} 様\n\nオンライン研修会（Zoom）を開催します。\n"
       "日時: 2027年1月16日（土）10:00〜12:00\n受講料: 5,500円（税込）\n"
       "ミーティングID: 812 3456 7890\nパスコード: 2027\n"
       "事前にお申し込みください: " + SITE + "/training\n")
notice("branch_party", "東京支部 新年会のご案内",
       "{name} 様\n\n東京支部の新年会を開催します。\n日時: 2027年1月23日（土）18:00〜\n"
       "会場: 銀座○○ホール（東京都中央区銀座5-1-1）\n会費: 4,000円\n"
       "申込締切: 2027年1月10日\n\n東京支部 幹事 " + KONDO.name + "\n", named=(KONDO,))
notice("safety_check", "【安否確認】地震に関する安否確認のお願い",
       "{name} 様\n\n本日の地震を受け、会員の皆様の安否を確認しています。\n"
       "お手数ですが、次のいずれかを本文に書いてご返信ください。\n"
       "1: 無事  2: 軽傷  3: 支援が必要\n"
       "会員番号 {member_number} を件名に入れていただくと確認が早くなります。\n\n" + CONTACT
       + "\n")
notice("safety_drill", "安否確認訓練のお知らせ",
       "{name} 様\n\n2027年3月11日（木）10:00に安否確認の訓練メールを送信します。\n"
       "届いたら「訓練 無事」とご返信ください。\n")
notice("typhoon", "台風10号に伴う事務局の臨時休業",
       "{name} 様\n\n台風10号の接近に伴い、9月1日（火）は事務局を臨時休業いたします。\n"
       "緊急のご連絡は " + settings.ASSOCIATION_CONTACT + " までお願いします。\n")
notice("benefit_reference", "慶弔見舞金の給付決定のお知らせ",
       "{name} 様\n\n申請いただいた見舞金の給付が決定しました。\n"
       "受付番号: BN-2026-0412\n給付額: 30,000円\n振込予定日: 2026年12月18日\n"
       "お問い合わせの際は受付番号をお伝えください。\n\n" + CONTACT + "\n")
notice("benefit_change", "見舞金制度の変更について",
       "{name} 様\n\n2027年4月1日から、入院見舞金を 1日あたり 2,000円（上限 60,000円）に"
       "変更します。\n規程第7条第2項の改正です。制度の詳細: " + SITE + "/benefit\n")
notice("health_check_subsidy", "健康診断補助金の申請受付",
       "{name} 様\n\n人間ドック・健康診断の補助金（上限 10,000円）の申請を受け付けています。\n"
       "申請書番号 HC-20270115 の様式をお使いください。受付期間: 2027年1月15日〜2月28日\n")
notice("discount_coupon", "会員優待のご案内",
       "{name} 様\n\n提携ホテルの会員優待をご利用いただけます。\n"
       "優待コード: MEMBER2027（予約時に入力）\n割引: 宿泊料金 15%OFF\n"
       "詳しくは " + SITE + "/benefits/hotel をご覧ください。\n")
notice("contact_line", "事務局の電話受付時間の変更",
       "{name} 様\n\n2027年1月から、事務局の電話受付時間を平日 9:30〜17:00 に変更します。\n"
       + CONTACT + "\n")
notice("office_move", "事務局移転のお知らせ",
       "{name} 様\n\n2027年2月1日から、事務局を下記に移転します。\n"
       "新住所: " + settings.ASSOCIATION_POSTAL_ADDRESS + " 協会会館 5階\n"
       "電話: " + ASSOCIATION_PHONE + "（変更なし）、FAX: " + ASSOCIATION_FAX + "\n")
notice("year_end_holidays", "年末年始休業のお知らせ",
       "{name} 様\n\n2026年12月28日（月）から2027年1月4日（月）まで事務局を休業します。\n"
       "1月5日（火）9:30から通常どおり受け付けます。\n")
notice("registration_check", "ご登録内容の確認のお願い",
       "{name}（{フリガナ}）様\n\n会員番号 {member_number} のご登録内容は次のとおりです。\n"
       "ローマ字: {ローマ字}\nメール: {email}\n電話: {電話番号}\n住所: {住所}\n"
       "生年月日: {生年月日}\n\n変更がある場合は " + SITE + "/members/profile から"
       "お手続きください。\n")
notice("member_card", "会員証 再発行のご案内",
       "{name} 様\n\n会員証（会員番号 {member_number}）の再発行を受け付けました。\n"
       "再発行手数料 500円 は次回の会費と合わせて請求します。\n"
       "お届け先: {住所}\n")
notice("survey_link", "会員アンケートのお願い",
       "{name} 様\n\n会員サービス向上のため、アンケートにご協力ください（所要時間 約5分）。\n"
       + SITE + "/survey/2026?utm_source=newsletter&utm_medium=email&utm_campaign=survey2026\n"
       "回答期限: 2026年12月20日\n")
notice("site_renewal", "会員専用サイト リニューアルのお知らせ",
       "{name} 様\n\n会員専用サイトをリニューアルしました。\n" + SITE + "/members/\n"
       "ログインIDは会員番号（{member_number}）です。\n")
notice("rules_revision", "会則改定のお知らせ",
       "{name} 様\n\n第37回定時総会の決議により、会則第12条第3項を改定しました。\n"
       "施行日: 2027年4月1日\n新旧対照表: " + SITE + "/rules/2027\n")
notice("referral", "会員紹介キャンペーン",
       "{name} 様\n\nお知り合いをご紹介ください。ご入会1名につき 図書カード 1,000円分を"
       "お贈りします。\n紹介者欄には会員番号 {member_number} をご記入ください。\n"
       "期間: 2027年1月1日〜3月31日\n")
notice("bilingual", "Annual dues / 年会費のお知らせ",
       "Dear {name},\n\nThe annual dues of JPY 12,000 are due by 31 January 2027.\n"
       "Please quote your member number {member_number} with the transfer.\n\n"
       "{name} 様\n\n年会費 12,000円 を2027年1月31日までにお振り込みください。\n\n"
       f"Contact / お問い合わせ: {settings.ASSOCIATION_CONTACT}, {ASSOCIATION_PHONE}\n")
notice("html_notice", "セミナー資料の公開",
       "{name} 様\n\nセミナー資料を公開しました: " + SITE + "/seminar/20261204/slides\n",
       "<p>{name} 様</p><p>12月4日のセミナー資料を公開しました。</p>"
       f'<p><a href="{SITE}/seminar/20261204/slides">資料を見る</a>'
       f'（PDF、2.4MB）</p><p>お問い合わせ: <a href="mailto:{settings.ASSOCIATION_CONTACT}">'
       f"{settings.ASSOCIATION_CONTACT}</a></p>")
notice("condolence_rules", "弔事のご連絡方法について",
       "{name} 様\n\n会員ご本人・ご家族のご不幸の際は、事務局（" + ASSOCIATION_PHONE
       + "）までご連絡ください。\n弔電・供花の手配をいたします（規程第15条）。\n")
notice("insurance_renewal", "団体保険 更新手続きのお知らせ",
       "{name} 様\n\n団体傷害保険の更新時期です。保険料は年額 4,800円 です。\n"
       "証券番号 GA-778-2026 の継続をご希望の方は、2027年2月15日までにお申し込みください。\n"
       "取扱代理店: サンプル保険サービス株式会社（電話 0120-000-123）\n")


notice("hiking", "春の森林ハイキングのご案内",
       "{name} 様\n\nさくらの季節に、高尾山の森を歩きます。樹木医の解説付きです。\n"
       "日時: 2027年4月3日（土）9:00 京王線 高尾山口駅 集合\n参加費: 1,500円（保険料込み）\n"
       "雨天中止の場合は前日18時までにメールでお知らせします。\n")
notice("contact_person", "会員証の送付について",
       "{name} 様\n\n新しい会員証を12月中旬に郵送します。\n"
       "担当: 事務局長 " + KONDO.name + "（電話 " + ASSOCIATION_PHONE + "、内線 12、"
       + settings.ASSOCIATION_CONTACT + "）\n", named=(KONDO,))
notice("venue_address", "研修会場の変更",
       "{name} 様\n\n1月16日の研修会の会場を変更します。\n"
       "新会場: 日本橋○○ビル 8階（〒103-0027 東京都中央区日本橋2-3-4、電話 03-6262-0000）\n"
       "最寄り駅: 東京メトロ 日本橋駅 B1出口 徒歩2分\n")
notice("zoom_link", "理事会（オンライン）のご案内",
       "{name} 様\n\n1月の理事会はオンラインで行います。\n"
       "日時: 2027年1月20日（水）19:00〜20:30\n"
       "参加URL: https://us02web.zoom.us/j/81234567890?pwd=UkZ3dEp6TWxQbVN2R2hYeUhNQ2tOZz09\n"
       "ミーティングID: 812 3456 7890 / パスコード: 204817\n")
notice("google_form", "懇親会の出欠確認",
       "{name} 様\n\n新年会の出欠を、次のフォームでお知らせください（1分で終わります）。\n"
       "https://docs.google.com/forms/d/e/1FAIpQLSfXk3m9Qz7YpLw2RtV8nBcHd4JsUe6KaGo1PiNq5WxZyT0v"
       "Mw/viewform?usp=sf_link\n締切: 2027年1月10日\n")
notice("number_in_subject", "【会員番号 {member_number}】年会費 領収書の発行について",
       "{name} 様\n\n2026年度年会費の領収書をPDFで発行しました。会員専用サイトの"
       "「各種証明書」からダウンロードできます。\n" + SITE + "/members/receipts\n")


def disguise(key: str) -> Case:
    return next(c for c in DISGUISES if c.key == key)


assert len({c.key for c in DISGUISES}) == len(DISGUISES)
assert len({c.key for c in NOTICES}) == len(NOTICES)


# --- driving a case through the real workflow ----------------------------------------------------


@dataclass
class Outcome:
    refused_at: str  # "" (not refused), "submit", "start" or "hand-over"
    reached: int  # messages of the campaign that arrived at the sink for members
    members: int  # the campaign's roster size


def setting_up(author, observer):
    """The three rosters: the members who left (imported and purged past the retention
    period), then the full membership, then this campaign's roster; and the officers on the
    observers' list of members who may be named (issue 21, item 4), where the app has that
    list (the same corpus runs against the app before it). Returns the campaign's roster."""
    from django.utils import timezone

    from campaigns import retention
    from roster import services
    from tests.factories import make_roster

    # Whoever imports now: the association's observer once it holds the keys.
    importer = next(p for p in (author, observer)
                    if not hasattr(services, "may_import") or services.may_import(p))
    left = make_roster(importer, rows=[purged_row(p) for p in LEFT], header=PURGED_HEADER,
                       name="2025年 退会者")
    later = timezone.now() + timedelta(days=settings.ROSTER_RETENTION_DAYS + 1)
    retention.purge_rosters(now=later)
    left.refresh_from_db()
    assert left.purged_at is not None
    make_roster(importer, rows=[p.row() for p in FULL], header=HEADER, name="全会員名簿 2026")
    roster = make_roster(importer, rows=[p.row() for p in TOKYO], header=HEADER,
                         name="東京支部 会員名簿")
    if hasattr(services, "add_named_member"):
        for number, office in OFFICERS.items():
            services.add_named_member(member_number=number, reason=f"{office}（2026年度）",
                                      last_day=timezone.localdate() + timedelta(days=365),
                                      actor=observer)
    return roster


def drive(case: Case, roster, people, sink) -> Outcome:
    """Create, submit, test-send, approve, release and send `case` to `roster`, as the
    three people (author, supervisor, observer) and the worker would; what got through.
    `sink`: the loopback SMTP server's handler (tests.sending_helpers.ScriptedSink)."""
    from campaigns import workflow
    from campaigns.models import Delivery
    from campaigns.states import State
    from tests.factories import make_campaign, run_until_done, through_the_countersign

    author, supervisor, observer = people
    before = len(sink.campaign_mail())
    campaign = make_campaign(author, roster, name=case.key[:100], subject=case.subject,
                             body_text=case.body_text, body_html=case.body_html,
                             kind=case.kind, canary_enabled=False)
    try:
        through_the_countersign(campaign, author, supervisor, observer)
    except workflow.ContentRefused as error:
        if error.code != "guard":  # a case the app refuses for another reason is a bad case
            raise
        return Outcome("submit", len(sink.campaign_mail()) - before, roster.member_count)
    run_until_done(campaign)
    refused = ""
    if campaign.state == State.DRAFT:
        refused = "start"
    elif campaign.deliveries.filter(state=Delivery.State.REFUSED).exists():
        refused = "hand-over"
    mine = [m for m in (message_from_bytes(raw, policy=policy.default)
                        for _time, _to, raw in sink.campaign_mail()[before:])
            if m["X-Countersign-Campaign"] == str(campaign.pk)]
    return Outcome(refused, len(mine), roster.member_count)
