"""A reviewer's attack on the guard's reading rules of issue 21's second round (written by
a helper who had not written them): ordinary notices a real Japanese association office
would send, each sitting near the edge of one rule, must be submitted; and disguises close
to the new rules that should be refused. Of 59 notices, 27 were refused on the first run
(25 by that day's rules); the rules were narrowed until only the four marked below remain.
Sixteen of the seventeen disguises were missed then; those still missed are marked.

Every ordinary notice goes through the real submit path (`workflow.submit`), against a
roster that looks like a real one (member numbers W000123 / K204447, readings, telephone
numbers, addresses in Tokyo and Osaka). A failing ordinary case prints the findings (kind,
where, text, member, detail): that is a false refusal. A failing disguise case is a leak the
guard misses.
"""

from datetime import timedelta

import pytest
from django.utils import timezone

from campaigns import guard, mail, workflow
from campaigns.models import State
from roster.services import add_named_member
from tests.factories import make_campaign, make_roster, named_officer, values_of

HEADER = ["会員番号", "氏名", "メールアドレス", "フリガナ", "電話番号", "住所"]
ROWS = [
    ["W000123", "佐藤 花子", "h.sato@example.ne.jp", "サトウ ハナコ", "090-1234-5678",
     "〒171-0022 東京都豊島区南池袋2-27-9 メゾン南池袋 1203号室"],
    ["W000124", "鈴木 一郎", "ichiro_suzuki88@example.co.jp", "スズキ イチロウ", "03-3981-2210",
     "〒170-6045 東京都豊島区東池袋3-1-1 サンシャイン60 45階"],
    ["W000125", "高橋 美咲", "misaki.t@example.jp", "タカハシ ミサキ", "080-2345-6789",
     "〒530-0001 大阪府大阪市北区梅田3-1-3 ルクア大阪 オフィス棟"],
    ["K204447", "田中 健太", "k.tanaka@example.jp", "タナカ ケンタ", "06-6345-1122",
     "〒556-0011 大阪府大阪市浪速区難波中2-10-70 パークスタワー 3801号室"],
    ["K204452", "伊藤 さくら", "sakura.ito-1990@example.jp", "イトウ サクラ", "070-3456-7890",
     "〒150-0001 東京都渋谷区神宮前3-12-8"],
    ["W000131", "渡辺 大翔", "hiroto.w_2@example.jp", "ワタナベ ヒロト", "090-4567-8901",
     "東京都江東区亀戸6-2-17 パークハイツ亀戸502"],
    ["W000132", "山本 陽菜", "hina.yamamoto@example.jp", "ヤマモト ヒナ", "080-5678-9012",
     "〒104-0061 東京都中央区銀座4-6-1"],
    ["W000133", "中村 蓮", "ren.nakamura3@example.jp", "ナカムラ レン", "090-6789-0123",
     "〒542-0076 大阪府大阪市中央区難波5-1-60"],
    ["W000134", "小林 結衣", "yui-kobayashi@example.jp", "コバヤシ ユイ", "03-5555-0134",
     "東京都世田谷区三軒茶屋1丁目32番6号"],
    ["W000135", "加藤 誠", "makoto.kato@example.jp", "カトウ マコト", "090-7890-1234",
     "〒160-0023 東京都新宿区西新宿2-8-1"],
    ["K204460", "林 あい", "ai.hayashi_07@example.jp", "ハヤシ アイ", "080-8901-2345",
     "大阪府堺市堺区南瓦町3-1"],
    ["K204461", "関 奈央", "nao.seki@example.jp", "セキ ナオ", "06-6201-4455",
     "〒541-0041 大阪府大阪市中央区北浜1-8-16 大阪証券取引所ビル 5階"],
    ["W000140", "吉田 直樹", "naoki.yoshida@example.jp", "ヨシダ ナオキ", "090-1111-2222",
     "〒113-0033 東京都文京区本郷7-3-1"],
    ["W000141", "山田 太郎", "t.yamada@example.jp", "ヤマダ タロウ", "03-3200-1234",
     "〒100-0005 東京都千代田区丸の内1-9-1"],
    ["W000142", "佐々木 恵子", "keiko.sasaki@example.jp", "ササキ ケイコ", "080-2222-3333",
     "〒135-0064 東京都江東区青海1-1-20"],
    ["W000143", "山口 翔太", "shota_y@example.jp", "ヤマグチ ショウタ", "090-3333-4444",
     "〒231-0023 神奈川県横浜市中区山下町10"],
    ["W000144", "松本 由美", "yumi.matsumoto@example.jp", "マツモト ユミ", "080-4444-5555",
     "〒564-0063 大阪府吹田市江坂町1-23-101"],
    ["W000145", "井上 健一", "ken1.inoue@example.jp", "イノウエ ケンイチ", "06-6311-7788",
     "〒531-0072 大阪府大阪市北区豊崎3-20-9 サンプラザ梅田 704"],
    ["K204470", "木村 真由美", "mayumi.kimura@example.jp", "キムラ マユミ", "090-5555-6666",
     "〒181-0013 東京都三鷹市下連雀3-38-4"],
    ["K204471", "斎藤 直子", "naoko.saito55@example.jp", "サイトウ ナオコ", "080-6666-7777",
     "〒279-0031 千葉県浦安市舞浜1-1"],
    ["K204472", "清水 千尋", "chihiro.s@example.jp", "シミズ チヒロ", "090-7777-8888",
     "〒180-0004 東京都武蔵野市吉祥寺本町1-15-9"],
    ["W000150", "工藤 俊介", "shun.kudo@example.jp", "クドウ シュンスケ", "03-6418-1234",
     "〒154-0004 東京都世田谷区太子堂4-1-1 キャロットタワー 12F"],
    ["W000151", "西村 拓海", "takumi.n@example.jp", "ニシムラ タクミ", "090-8888-9999",
     "〒530-0011 大阪府大阪市北区大深町4-20 グランフロント大阪 タワーA 15階"],
    ["W000152", "長谷川 蓮", "ren.hasegawa@example.jp", "ハセガワ レン", "080-9999-0000",
     "〒603-8214 京都府京都市北区紫野下門前町25"],
    ["K110000", "森 優", "yu.mori@example.jp", "モリ ユウ", "06-6202-3344",
     "〒540-0002 大阪府大阪市中央区大阪城1-1"],
    ["K210000", "東 麻衣", "mai.higashi@example.jp", "ヒガシ マイ", "03-3501-2345",
     "〒100-0013 東京都千代田区霞が関1-3-1"],
]

G = "{name} 様\n\n"
SIGNATURE = "\n\n一般社団法人 サンプル会員協会 事務局\n"

# --- ordinary notices, each near one new rule ------------------------------------------------
NOTICES = {
    # address_keys (member_keys.py) / chome_fold (spellings.py)
    "venue in 丸の内 in 丁目/番/号, near an officer's address": (
        "{name} 様: 定時総会のご案内",
        ("定時総会を下記のとおり開催します。\n会場: 千代田区丸の内二丁目7番2号 JPタワー 4階 "
        "ホール&カンファレンス\n日時: 2026年6月20日(土) 14:00〜16:30\n受付: 13:30〜")),
    "venue on the same block as a member (銀座4丁目6番16号)": (
        "{name} 様: 新年賀詞交歓会のご案内",
        ("新年賀詞交歓会を開催します。\n会場: 中央区銀座4丁目6番16号 銀座三越 新館9階\n"
        "会費: 8,000円（当日受付にて）\n最寄り駅: 東京メトロ銀座駅 A7出口直結")),
    "venue at a famous building with a digit in its name (サンシャイン60)": (
        "{name} 様: 懇親会のご案内",
        ("懇親会は池袋のサンシャイン60 58階のレストランで行います。\n"
        "集合: 18:00 サンシャイン60 1階 エレベーター前\n会費: 6,000円")),
    "a meeting room numbered like an apartment (1203号室)": (
        "{name} 様: 理事会室の変更",
        ("来月から理事会は本部ビル 12階 1203号室 で開催します。\n"
        "エレベーターを降りて右手奥の部屋です。")),
    "venue in a station building in 梅田, no prefecture": (
        "{name} 様: 関西支部 研修会のご案内",
        ("関西支部の研修会を開催します。\n会場: 大阪ステーションシティ（大阪市北区梅田3-1-3）"
        " ルクア大阪 10階 カルチャールーム\n時間: 10:00〜12:00")),
    "a venue two blocks from a member (亀戸6丁目)": (
        "{name} 様: 城東地区 清掃活動",
        "集合場所: 江東区亀戸6丁目 亀戸中央公園 A地区\n集合時間: 9:00\n持ち物: 軍手、飲み物"),
    "the association's address in 丁目 form": (
        "{name} 様: 事務局移転のお知らせ",
        ("事務局は下記に移転しました。\n新住所: 〒100-0001 東京都千代田区千代田1丁目1番\n"
        "電話番号に変更はありません。")),
    # _joined_numbers (member numbers with a letter prefix, O for 0)
    "product codes and model numbers": (
        "{name} 様: 共同購入のご案内",
        ("対象製品: A-12、AB-1234、XR-2000、KD-5005、PX 200\n"
        "型番 W-100 は在庫切れです。\n注文番号は K 12 の後に届く番号です。")),
    "version numbers of the members' app": (
        "{name} 様: 会員アプリ更新のお願い",
        ("会員アプリ Ver. 3.10.2 を公開しました。\niOS 17.4 以上、Android 10 以上が必要です。\n"
        "旧版 v2.0.1 は 2026年5月末で使えなくなります。")),
    "a seat table over several lines": (
        "{name} 様: 総会 座席表",
        ("座席は支部ごとに指定しています。\nA 列: 1 2 3 4 5 6\nB 列: 7 8 9 10 11 12\n"
        "K 列: 13 14 15 16 17 18\nW 列: 19 20 21 22 23 24")),
    "floors and rooms, letter then digits across a line break": (
        "{name} 様: 分科会の部屋",
        ("分科会の部屋は次のとおりです。\n第1分科会: 本館 B\n204 会議室\n第2分科会: 別館 K\n"
        "447 研修室")),
    "a schedule with many times": (
        "{name} 様: 当日のスケジュール",
        ("9:30 受付開始\n10:00 開会\n10:15 来賓挨拶\n10:45 議事\n12:00 昼食\n13:00 分科会\n"
        "15:00 全体会\n16:30 閉会")),
    "Wi-Fi and room list in English-style codes": (
        "{name} 様: 会場の Wi-Fi",
        ("SSID: Kyosai-Guest / パスワードは受付で配布します。\nRoom A 101, Room B 102, "
        "Room C 103 をご利用ください。")),
    # positional kanji numbers after a Latin letter or a digit (spellings.clean)
    "amounts in 万 and 千": (
        "{name} 様: 会費改定のお知らせ",
        ("年会費を1万円から1万2千円に改定します。\n入会金は2万円のままです。\n"
        "寄付は3万5千円、累計で約1千万円になりました。")),
    "a budget line in 万/千/百": (
        "{name} 様: 予算案",
        ("令和8年度予算案: 事業費 12万3千4百円、事務費 5万6千円、予備費 7千円\n"
        "詳しくは総会資料をご覧ください。")),
    "attendance numbers in 万": (
        "{name} 様: 大会のご報告",
        "昨年の全国大会には約3万5千人が来場しました。\n今年は4万人を目標にしています。"),
    # furigana removal
    "one officer with furigana in parentheses": (
        "{name} 様: 新会長就任のお知らせ",
        "新会長に 山田 太郎（やまだ たろう）が就任しました。\n今後ともよろしくお願いします。"),
    "list markers in katakana parentheses and 《》 headings": (
        "{name} 様: 《重要》総会議案",
        ("《重要》議案は次のとおりです。\n(ア) 決算報告\n(イ) 事業計画\n(ウ) 役員選任\n"
        "(エ) その他")),
    "a guest speaker (not a member) with ruby in HTML-like text": (
        "{name} 様: 講演会のご案内",
        ("講師: 大野(おおの) 智(さとし) 先生（東都大学教授）\n演題: 地域と共済の未来\n"
        "会場: 本部ビル 大会議室")),
    # @ and . written in words
    "unit price with @ and scores with 点": (
        "{name} 様: 記念品の申込",
        "記念Tシャツ @2,000円 × 枚数\nタオル @800円\n前回の満足度は 4.5（点）でした。"),
    "the association's address written for spam protection": (
        "{name} 様: お問い合わせ先",
        ("お問い合わせは jimukyoku（単価記号）association（点）example まで。\n"
        "（迷惑メール対策のため表記を変えています）")),
    # puzzles: Morse-looking lines, fillers, acrostics
    "cut-off lines and dotted leaders": (
        "{name} 様: 出欠票",
        ("- - - - - - - - - - - キリトリ線 - - - - - - - - - - -\n"
        "氏名 ............ 支部 ............\n"
        "出席 ・ 欠席 （どちらかに○）\n. . . . . . . . . .")),
    "a haiku corner (three haiku, nine lines)": (
        "{name} 様: 会報 俳句コーナー",
        ("今月の俳句（会員投稿）\n\n古池や\n蛙飛び込む\n水の音\n\n菜の花や\n月は東に\n日は西に\n\n"
        "柿くへば\n鐘が鳴るなり\n法隆寺")),
    "a tanka and ordinary lines starting with kana": (
        "{name} 様: 会報 春号",
        ("東京支部だより 第12号\nまもなく春の総会です。\nいつもご協力ありがとうございます。\n"
        "なお、詳細は同封の資料をご覧ください。\nよろしくお願いいたします。")),
    "a bulleted list with ・": (
        "{name} 様: 持ち物",
        "当日の持ち物\n・会員証\n・筆記用具\n・上履き\n・昼食\n・雨具"),
    "numbers with commas, 1 to 9": (
        "{name} 様: 研修の対象",
        "対象: 1,2,3,4,5,6,7,8,9 年目の会員\n開講: 毎月第2土曜日"),
    "months joined with ・": (
        "{name} 様: 開催月",
        "開催月: 1・2・3・4・5・6・7・8・9月\n会場: 本部ビル 大会議室"),
    # local parts
    "the association's e-mail addresses": (
        "{name} 様: 連絡先のご案内",
        ("事務局: members@association.example\n大阪支部: osaka.shibu@association.example\n"
        "経理: keiri-2026@association.example")),
    "file names and URLs with paths and queries": (
        "{name} 様: 資料のダウンロード",
        ("総会資料: https://association.example/files/report_2026.pdf\n"
        "議事録: https://association.example/news/2026/04?page=2&lang=ja\n"
        "添付: minutes_2026-04.docx, budget_v2.xlsx")),
    # kanji that look like katakana
    "kanji that look like katakana in an ordinary notice": (
        "{name} 様: 八月の行事",
        ("八月二日は八王子で工場見学です。夕方五時に入口集合、口座引落しの方は力を"
        "入れて才能を発揮してください。二子玉川からバスが出ます。")),
    # small capitals, squared letters, emoji
    "blood types and parking in squared letters": (
        "{name} 様: 献血のお願い",
        "🅰️型・🅱️型・🅾️型・🆎型の方、ご協力をお願いします。\n🅿️ 駐車場 30台あります。"),
    "emoji with variation selectors, flags and keycaps": (
        "{name} 様: 夏祭り 🎆",
        ("☀️ 夏祭りのお知らせ ☀️\n1️⃣ 受付 2️⃣ 開会 3️⃣ 盆踊り #️⃣ 抽選\n"
        "🇯🇵 🏴\U000e0067\U000e0062\U000e0065\U000e006e\U000e0067\U000e007f 交流会\n"
        "❤️ 👍🏻 ✉️ ☎️ 03-1234-5678")),
    # opaque runs
    "booth numbers of an exhibition": (
        "{name} 様: 展示会ブース割",
        "ブース: A1 A2 A3 A4 B1 B2 B3 B4 C1 C2 C3 C4 に支部ごとに出展します。"),
    "sixteen hotel rooms": (
        "{name} 様: 研修旅行の部屋割",
        "部屋: 101 102 103 104 201 202 203 204 301 302 303 304 401 402 403 404 号室"),
    "a golf competition's scores": (
        "{name} 様: ゴルフコンペ結果",
        ("優勝スコア（1番〜18番）: 4 5 3 4 4 5 3 4 5 4 4 3 5 4 5 3 4 4\n"
        "次回もふるってご参加ください。")),
    "a bingo's numbers called": (
        "{name} 様: 忘年会ビンゴ",
        "抽選番号: 3, 17, 22, 41, 56, 68, 72, 85, 91, 104, 118, 123, 137, 142, 150, 166"),
    "a web address without https, with capitals": (
        "{name} 様: 会報のご案内",
        "会報は association.example/News/Kaiho_2026-04.pdf からお読みいただけます。"),
    "telephone and fax in one run": (
        "{name} 様: 大阪支部の連絡先",
        "大阪支部 Tel:06-6123-4567/Fax:06-6123-4568（平日9時〜17時）"),
    "a romaji file name in a link": (
        "{name} 様: 総会資料",
        "https://association.example/files/reiwa7nendoteikisoukaishiryou.pdf をご覧ください。"),
    "a long hashtag": (
        "{name} 様: SNS キャンペーン",
        "投稿には #kyosaikaiannualmeetingvol3 をつけてください。"),
    "a bank transfer with a 7-digit account": (
        "{name} 様: 年会費お振込のお願い",
        ("振込先: みずほ銀行 丸の内支店 普通 1234567 ｼｬ)ｻﾝﾌﾟﾙｶｲｲﾝｷｮｳｶｲ\n"
        "ゆうちょ銀行 記号 10170 番号 12345671\n振込期限: 2026年5月31日")),
    "postal codes of two venues": (
        "{name} 様: 地区大会",
        "東京会場: 〒171-0021 豊島区西池袋1-8-1\n大阪会場: 〒530-0012 大阪市北区芝田1-1-4"),
    "zoom meeting with numeric passcodes": (
        "{name} 様: オンライン説明会",
        ("第1回 ミーティングID: 812 3456 7890 パスコード: 204452\n"
        "第2回 ミーティングID: 845 6789 0123 パスコード: 204460")),
    "two sessions' order numbers": (
        "{name} 様: 注文番号",
        "ご注文番号 110000 と 210000 の発送は来週になります。"),
    # mixed name keys (kanji family name + given name in kana)
    "an ordinary sentence: 正面玄関。なお、 with a signature": (
        "{name} 様: 研修会のご案内",
        ("受付は1階正面玄関。なお、駐車場はありませんので公共交通機関をご利用ください。\n\n"
        "会長 山田 太郎")),
    "雑木林。あいにく、 with a signature": (
        "{name} 様: 遠足の報告",
        "行き先は高尾山の雑木林。あいにくの雨でしたが、全員無事に帰りました。\n\n会長 山田 太郎"),
    "an acrostic by chance (東/まもなく/いつも) with a signature": (
        "{name} 様: 会報 春号",
        ("東京支部だより 第12号\nまもなく春の総会です。\nいつもご協力ありがとうございます。\n"
        "詳細は同封の資料をご覧ください。\n\n会長 山田 太郎")),
    "one 6-digit passcode with a signature": (
        "{name} 様: オンライン理事会",
        "ミーティングID: 812 3456 7890\nパスコード: 204452\n\n会長 山田 太郎"),
    "one amount in 万 with a signature": (
        "{name} 様: 見舞金のお知らせ",
        "見舞金は一律2万円です。\n\n会長 山田 太郎"),
    "chome and lot then a time (二丁目5番 10時)": (
        "{name} 様: 集合場所",
        "集合: 中央区銀座4丁目6番 1階ロビー 10時\n雨天決行です。"),
    "a hotel room in English style next to a member's building name": (
        "{name} 様: 宿泊のご案内",
        "宿泊はホテルサンプラザ梅田 704号室 ほか。チェックインは15時です。"),
    # English notices
    "English: AGM notice with times, rooms and a URL": (
        "{name}: Annual General Meeting",
        ("Dear member,\n\nThe AGM will be held on Sat. Apr. 25 2026, 2:00 p.m., Room 1203, 12F,"
        " Sunshine 60 Bldg.\nAgenda: https://association.example/agm/2026?lang=en\n"
        "Please reply by Apr. 10.\n\nBest regards,\nThe Secretariat")),
    "English: contact list of the secretariat": (
        "{name}: Contacts",
        ("Dear member,\n\nGeneral: members@association.example\nTel: +81-3-1234-5678 "
        "(Mon.-Fri. 9:00-17:00)\nOffice: 1-1 Chiyoda, Chiyoda-ku, Tokyo 100-0001")),
}


@pytest.fixture
def roster(olivia):
    return make_roster(olivia, rows=ROWS, header=HEADER)


@pytest.fixture
def chair(oscar):
    """The notices are signed by the chair, 山田 太郎 (W000141), a member: the association
    lists him as one who may be named, as issue 21 asks (one other member named alone is
    refused since the corpus's last round)."""
    return named_officer(oscar, "W000141", "会長", days=365)


@pytest.fixture(autouse=True)
def link_domains(settings):
    settings.CAMPAIGN_LINK_DOMAINS = ["association.example", "zoom.us"]


def draft(olivia, roster, subject, body):
    return make_campaign(olivia, roster, canary_enabled=False, subject=subject,
                         body_text=G + body + SIGNATURE)


def described(findings) -> str:
    return "\n".join(f"  {f.kind} in {f.where} l{f.line}: {f.text!r} member={f.member} "
                     f"detail={f.detail!r}" for f in findings)


def submitted(olivia, campaign):
    try:
        workflow.submit(campaign=campaign, user=olivia)
    except workflow.ContentRefused as refused:
        report = refused.report
        pytest.fail("refused: " + (described(report.findings) if report else str(refused)))
    campaign.refresh_from_db()
    return campaign


# Refused still, and why (issue 21): a member's own home is the venue or the hotel (the
# association should list public venues, as it lists officers); two that were refused
# before this round.
STILL_REFUSED = {
    "a hotel room in English style next to a member's building name":
        "a member's registered building and room is the hotel",
    "venue in a station building in 梅田, no prefecture": "a member's office is the venue",
    "雑木林。あいにく、 with a signature": "林 あい is a member's name (before too)",
}
# Disguises the guard still misses (issue 21: the arms race the association-held key ends).
STILL_MISSED = {
    "address, without the ward",
    "readings in katakana with look-alike kanji not folded (三, 千, 匕)",
    "two members' number digits written like amounts",
}


def marked(cases, known, reason=None):
    return [pytest.param(case, id=case, marks=[pytest.mark.xfail(
        strict=True, reason=f"issue 21: {reason or known[case]}")] if case in known else [])
        for case in sorted(cases)]


@pytest.mark.parametrize("case", marked(NOTICES, STILL_REFUSED))
def test_an_ordinary_notice_is_submitted(case, olivia, roster, chair):
    campaign = submitted(olivia, draft(olivia, roster, *NOTICES[case]))
    assert campaign.state == State.SUBMITTED


# --- dates: a roster with a join-date column (入会日), as most rosters have ----------------------
DATE_HEADER = HEADER + ["入会日"]
JOINED = ["2025/04/01", "2025/04/01", "2024/04/01", "2024/04/01", "2020/04/01", "2019/10/01",
          "2018/04/01", "2015/04/01"]
DATE_ROWS = [row + [JOINED[i % len(JOINED)]] for i, row in enumerate(ROWS)]

DATED_NOTICES = {
    "the date a fee change took effect": (
        "{name} 様: 会費改定", "2025年4月1日より年会費を改定しました。"),
    "a fiscal year's start in the Japanese era": (
        "{name} 様: 新年度", "令和7年4月1日から新年度の事業が始まりました。"),
    "a date of the articles of association": (
        "{name} 様: 定款変更", "定款（2020/04/01 施行）の第12条を変更します。"),
    "one member's join date and a signature": (
        "{name} 様: 支部設立", "大阪支部は2019年10月1日に設立されました。\n\n会長 山田 太郎"),
}


@pytest.mark.parametrize("case", sorted(DATED_NOTICES))
def test_an_ordinary_notice_with_a_date_is_submitted(case, olivia, chair):
    roster = make_roster(olivia, rows=DATE_ROWS, header=DATE_HEADER)
    campaign = submitted(olivia, draft(olivia, roster, *DATED_NOTICES[case]))
    assert campaign.state == State.SUBMITTED


# --- officers the observer lists as named, signing in English ----------------------------------
def test_listed_officers_signing_with_their_initials_is_submitted(olivia, oscar, roster):
    for number, why in (("W000141", "会長"), ("W000123", "事務局長")):
        add_named_member(member_number=number, reason=why, actor=oscar,
                         last_day=timezone.localdate() + timedelta(days=30))
    campaign = submitted(olivia, draft(
        olivia, roster, "{name}: Board meeting",
        "Dear member,\n\nThe board met on 12 May.\n\nT.Yamada (President)\n"
        "H.Sato (Secretary General)"))
    assert campaign.state == State.SUBMITTED


# --- disguises close to the new rules: each carries another member's data ---------------------
DISGUISES = {
    "member number, O for 0 and l for 1": "対象: W000l23",
    "member number, the prefix in katakana": "対象: ダブリュー000123",
    "member number, prefix and digits parted by a word in brackets": "会員番号 W（東京）000123",
    "member number, Arabic digits around 万": "対象: K20万4447",
    "address, 丁目 without 番 (2丁目27-9)": "訪問先: 豊島区南池袋2丁目27-9",
    "address, lot and number in kanji (二丁目二十七番九号)": (
        "訪問先: 豊島区南池袋二丁目二十七番九号"),
    "address, without the ward": "訪問先: 南池袋2-27-9 メゾン南池袋",
    "e-mail in Morse with Japanese dots and dashes": (
        "－・－・ ・・・・ ・・ ・・・・ ・・ ・－・ －－－ ・－・－・－ ・・・ ・－－・－・ "
        "・ －・・－ ・－ －－ ・－－・ ・－・・ ・ ・－・－・－ ・－－－ ・－－・"),
    "e-mail in Morse with | between letters": (
        "-.-.|....|..|....|..|.-.|---|.-.-.-|...|.--.-.|.|-..-|.-|--|.--.|.-..|.|.-.-.-|.---|"
        ".--."),
    "a name down the left edge, each line bulleted": (
        "・清らかな\n・水の流れに\n・千の星\n・尋ねる人の\n・工夫して\n・藤の花\n・俊足の\n"
        "・介添えの人"),
    "an address with a changing filler": "c1h2i3h4i5r6o7.8s9@0e1x2a3m4p5l6e7.8j9p",
    "names with a reading after each kanji in 【】": (
        "出演: 清【し】水【みず】千【ち】尋【ひろ】、工【く】藤【どう】俊【しゅん】介【すけ】"),
    "an address defanged with [@] and [.]": "連絡先: chihiro.s[@]example[.]jp",
    "bytes in decimal, in groups of fewer than 16": (
        "99 104 105 104 105 114 111 46 115 64 / 101 120 97 109 112 108 101 46 106 112"),
    "bytes in decimal, the list ending against a year": (
        "99 104 105 104 105 114 111 46 115 64 / 101 120 97 109 112 108 101 46 106 112 2026年4月"),
    "bytes in decimal, the list ending against a decimal": (
        "99 104 105 104 105 114 111 46 115 64 101 120 97 109 112 108 101 46 106 112 0.5"),
    "an address in base64, split across a bare address's path": (
        "会報は association.example/Y2hpaGlyby5zQGV4/YW1wbGUuanA= から。"),
    "a name in hex, in a bare address's short query value": (
        "会報は association.example/r?n=e4b8ade69d91e893ae から。"),
    "bytes hidden after emoji, one selector each": "".join(
        "🌸" + (chr(0xFE00 + b) if b < 16 else chr(0xE0100 + b - 16))
        for b in b"chihiro.s@example.jp"),
    "readings in katakana with look-alike kanji not folded (三, 千, 匕)": (
        "席次: シ三ズ 千匕ロ、ニシムラ タク三"),
    "two members' number digits written like amounts": "204,447円 と 204,452円",
}


@pytest.mark.parametrize("case", marked(DISGUISES, STILL_MISSED, "still missed"))
def test_a_disguise_close_to_a_new_rule_is_refused(case, olivia, roster):
    campaign = draft(olivia, roster, "{name} 様", DISGUISES[case])
    with pytest.raises(workflow.ContentRefused):
        workflow.submit(campaign=campaign, user=olivia)


@pytest.mark.parametrize("case", sorted(set(DISGUISES) - STILL_MISSED))
def test_a_disguise_close_to_a_new_rule_is_refused_before_its_hand_over(case, roster):
    """The check before each hand-over alone (the submit check switched off) finds it in the
    message rendered for a member it does not name (吉田 直樹, W000140)."""
    values = mail.member_values(values_of(roster.members.get(member_number="W000140")))
    assert guard.check_message(roster=roster, recipient=values, subject="吉田 直樹 様",
                               body_text=DISGUISES[case], body_html="")


# --- a reviewer's attack on the rules above: lists down their left edge, other towns -----------
LISTS = {
    "bullets ・: 森林, 優勝 (森 優)": (
        "秋の行事\n・森林公園での清掃活動\n・優勝チームの表彰\n・懇親会\n・閉会"),
    "bullets ●: 優待, 森 (優 森)": (
        "会員特典\n● 優待券の配布\n● 森のカフェ 10%引き\n● 駐車場無料\n● 記念品"),
    "bullets ※: 林業, あじさい (林 あい)": (
        "日帰り旅行の内容\n※ 林業体験（午前）\n※ あじさい園の散策\n※ いちご狩り\n※ 温泉"),
    "bullets ・: 東京, 麻, 衣類 (東 麻衣)": (
        "持ち物\n・東京駅までの切符\n・麻のハンカチ\n・衣類（着替え）\n・雨具"),
    "headings in 【】: 森林, 優勝 (森 優)": (
        "【森林ウォーク】\n【優勝賞品】\n【集合場所】\n【参加費】"),
    "lines without bullets: 森林, 優しい (森 優)": (
        "森林浴のご案内\n優しい運動です\n集合は駅前\n雨天中止"),
    "numbered: (1) 森林 (2) 優勝": "内容\n(1) 森林浴\n(2) 優勝者発表\n(3) 懇親会\n(4) 解散",
}


def _message_for_w000140(roster, body):
    values = mail.member_values(values_of(roster.members.get(member_number="W000140")))
    return guard.check_message(roster=roster, recipient=values, subject="吉田 直樹 様",
                               body_text=body + SIGNATURE, body_html="")


@pytest.mark.parametrize("case", sorted(LISTS))
def test_a_list_whose_first_letters_spell_a_short_name_is_not_refused(case, olivia, roster,
                                                                       chair):
    """Two or three first letters of an ordinary list spell a short name by chance: only a
    name of four characters or more counts down a left edge (puzzles.ACROSTIC_MIN_NAME)."""
    assert submitted(olivia, draft(olivia, roster, "{name} 様: お知らせ", LISTS[case])).state \
        == State.SUBMITTED
    assert _message_for_w000140(roster, LISTS[case]) == []


OTHER_TOWNS = [["W000199", "池田 修", "osamu.ikeda@example.jp", "イケダ オサム", "090-1212-3434",
                "〒170-0014 東京都豊島区池袋2-27-9"],
               ["W000198", "岡 美香", "mika.oka@example.jp", "オカ ミカ", "090-1212-5656",
                "〒151-0071 東京都渋谷区本町1-12-1"]]


@pytest.mark.parametrize("venue", ["会場: 豊島区西池袋2丁目27番9号 ホール",
                                   "会場: 大阪市中央区本町1丁目12番1号 本町会館",
                                   "会場: 中野区本町1-12-1"])
def test_a_venue_with_a_members_numbers_in_another_town_is_not_refused(venue, olivia):
    """池袋 ends 西池袋, and 本町 is in many cities: a member's street is read with its ward."""
    roster = make_roster(olivia, rows=ROWS + OTHER_TOWNS, header=HEADER)
    assert _message_for_w000140(roster, venue) == []
