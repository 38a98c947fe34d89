/**
 * Common given names and family names, lower-case, accents and apostrophes folded away
 * (`lucía` is `lucia`, `o'brien` is `obrien`), for recognising logins built from a person's
 * name (`john.smith`, `jsmith`, `maria_garcia2`) in sampled values. See `person-handle.ts`.
 *
 * A few hundred of the most frequent names of English-, Spanish-, Portuguese-, French-,
 * German-, Italian-, Dutch-, Nordic-, Slavic-, Arabic-, South Asian-, East Asian- and
 * West African-speaking countries: enough that a site's usernames match in a large share,
 * not a census. A login is only matched when it holds two parts of a name (or an initial and a
 * family name), and a column only when a share of its values do, so a missing name lowers a
 * column's count without hiding it, and a name that is also a word (`rose`, `green`) does not
 * make a product code a person. Names shorter than three letters are left out: as parts of
 * logins they match too much.
 */

const GIVEN = `
aaron abdul abdullah abigail adam adebayo adriana adrian agnieszka ahmad ahmed aisha akira alan albert alberto alejandro
aleksandra alex alexander alexandra alexis alfie ali alice alicia alina alison amanda amara amber amelia amina amir amit
amy ana anders andre andrea andreas andrew andrzej angela angelo anil anita anja ankit anna anne annika anthony antoine
antonio anya arjun arthur astrid aurora ava ayesha barbara beatriz ben benjamin bernard beth bianca bjorn bogdan brandon
brian bruno camila camille carl carla carlos carmen caroline catherine cecilia charles charlie charlotte chen chiara chidi
chloe chris christian christina christine christopher claire clara claudia colin connor daniel daniela daniele david
deborah deepak dennis diana diego dimitri dmitri dominic donald dorothy dylan edward elena elias elif elijah elizabeth
ella ellie emeka emil emily emma emmanuel enrique eric erik erin esther ethan eva evelyn ewa fabian farah fatima felix
fernando finn florian francesca francesco francisco frank freya gabriel gabriela gabriele george georgia gerhard giovanni
giulia giuseppe grace grant greta gustav hamza hana hannah hanna hans harry harvey hassan heather helen helena henrik
henry hiroshi holly hugo ian ibrahim ifeoma ingrid irene isaac isabel isabella isla ivan ivy jack jacob jacqueline jake
james jamie jan jana jane janet jason javier jennifer jens jessica jin joanna joao joe johan johannes john jonas jonathan
jorge jose joseph joshua juan julia julian julie jun justin kamal karen karin karl kate katarzyna katherine kathleen
katie keith kenji kevin khalid kim kofi krishna kwame kyle lars laura lauren layla leah lena leo leon leonardo liam lily
linda lisa logan lorenzo louis louise luca lucas lucia luis luka lukas maja makoto malik manuel marco marcus margaret
maria marie marina mario mark marta martin mary mason mateo matteo matthew max maya megan mehmet mei melissa mia michael
michelle miguel mikael mohamed mohammed monica nadia naomi natalia natasha nathan neil nicholas nicola nicole niklas nina
noah noor nora oliver olivia omar oscar pablo patricia patrick paul paula pedro peter philip pierre piotr pooja priya
rachel rafael rahul raj rajesh ravi rebecca ricardo richard robert roberto rohan rosa rosie ruby ryan sakura sam samantha
samuel sandra sara sarah scott sean sebastian sergei sergio shanti sharon simon sofia sophia sophie stefan stephanie
stephen steven sunita susan sven takeshi tanvir teresa theo thomas tim timothy tobias tom tomas tyler valentina vanessa
vera victor victoria vikram wei william willow xavier yan yasmin yousef yuki yusuf zara zoe zofia
`;

const FAMILY = `
abbott adams adeyemi afolabi ahmed akhtar ali allen alvarez anderson andersson andrews appiah armstrong bailey baker
banerjee becker bell bennett berg bianchi bjork black boateng bondarenko brown bruno campbell carter castillo chan chang
chatterjee chen cheng choi clark clarke cohen collins cook cooper costa cruz dasilva davies davis devries diaz dubois
dupont edwards ellis evans fernandes fernandez ferrari fischer fisher fontana foster fraser garcia gomez gonzalez gordon
graham green greene griffiths gupta hall hamilton hansen harris harrison hashimoto hayes henderson hernandez hill hoffmann
hughes hussain ibrahim ito jackson james jansen jensen johansson johnson johnston jones kaur kelly kennedy khan kim king
kobayashi koch kowalczyk kowalski kozlov kumar larsen laurent lee lefebvre lewis lin lindberg liu lopez lund macdonald
martin martinez mason mensah meyer miller mitchell moore morales moreau morgan moreno morris muller murphy murray nakamura
nguyen nielsen novak nowak obrien oconnor okafor okonkwo olsen olsson ortiz osei owusu park parker patel perez petrov
petersen phillips popescu price quinn ramirez reid reyes richardson rivera roberts robinson rodriguez rogers romano
romero rossi russo ryan saito sanchez santos sato schmidt schneider schulz scott shah sharma shaw silva simpson singh
smith smirnov stewart sullivan suzuki takahashi tanaka taylor thomas thompson torres tran turner vandijk vargas wagner
walker wang ward watanabe watson weber white williams wilson wong wood wright wu yamamoto yang young zhang zhao
`;

const words = (text: string): ReadonlySet<string> => new Set(text.split(/\s+/).filter((w) => w.length >= 3));

export const GIVEN_NAMES: ReadonlySet<string> = words(GIVEN);
export const FAMILY_NAMES: ReadonlySet<string> = words(FAMILY);
