// Value pairs for the CompareLogic stand-in (src/babeltower/evaluation/csharp/CompareNetObjects.cs),
// each with the verdict the real CompareNETObjects 4.77 (mxeval's resources/eval_csproj.zip) gives
// under Mono at its default settings, as mxeval's tests call it: Compare(actual, expected).
// Prints one line per pair: name, the real library's verdict, this run's verdict (tab-separated);
// tests/test_harness.py runs it against our stand-in and, when mxeval's copy is present, against
// the real DLL.
using System;
using System.Collections;
using System.Collections.Generic;
using System.Linq;
using System.Numerics;
using KellermanSoftware.CompareNetObjects;

public class Point { public int X; public int Y { get; set; } }
public class Named
{
    public string Name { get; set; }
    private int hidden;
    public Named(string name, int h) { Name = name; hidden = h; }
}
public struct Pair { public int A; public long B; }
public class Empty { }
public class Base { public int A; }
public class Derived : Base { }
public class Key { public int X; public Key(int x) { X = x; } }
public class Indexed { public int this[int i] { get { return i; } } }
public class ListPlus : List<int> { public int Extra { get; set; } }

class Battery
{
    const string Equal = "equal", Different = "different", Throws = "throws";
    static readonly CompareLogic Logic = new CompareLogic();

    static void V(string real, string name, object actual, object expected)
    {
        string verdict;
        try { verdict = Logic.Compare(actual, expected).AreEqual ? Equal : Different; }
        catch (Exception) { verdict = Throws; }
        Console.WriteLine(name + "\t" + real + "\t" + verdict);
    }

    static Dictionary<string, int> Reinserted()
    {
        var d = new Dictionary<string, int> {{"c", 3}, {"b", 2}};
        d.Remove("b");
        d["a"] = 1;
        return d;
    }

    static void Main()
    {
        // Numbers: type-strict, exact, NaN equal to itself.
        V(Equal, "int = int", 1, 1);
        V(Different, "int != int", 1, 2);
        V(Different, "int vs long", 1, 1L);
        V(Different, "int vs double", 1, 1.0);
        V(Different, "int vs short", 1, (short)1);
        V(Different, "ulong vs long", 1UL, 1L);
        V(Equal, "long = long", long.MaxValue, long.MaxValue);
        V(Equal, "double = double", 1.5, 1.5);
        V(Different, "double vs float", 1.5, 1.5f);
        V(Different, "0.1 + 0.2 vs 0.3", 0.1 + 0.2, 0.3);
        V(Different, "double one ulp apart", 1.0, 1.0 + 1e-15);
        V(Equal, "NaN = NaN", double.NaN, double.NaN);
        V(Equal, "float NaN = NaN", float.NaN, float.NaN);
        V(Equal, "0.0 = -0.0", 0.0, -0.0);
        V(Equal, "infinity", double.PositiveInfinity, double.PositiveInfinity);
        V(Equal, "decimal = decimal", 1.5m, 1.5m);
        V(Equal, "decimal 1.50 = 1.5", 1.50m, 1.5m);
        V(Different, "decimal vs double", 1.5m, 1.5);
        V(Equal, "BigInteger = BigInteger", new BigInteger(5), new BigInteger(5));
        // Compared by public properties (Sign, IsEven, ...), not by value:
        V(Equal, "BigInteger 5 vs 7", new BigInteger(5), new BigInteger(7));
        // Strings, chars, booleans, null, enums.
        V(Equal, "string = string", "ab", "ab");
        V(Different, "string case", "ab", "AB");
        V(Different, "string trailing space", "ab", "ab ");
        V(Different, "empty string vs null", "", null);
        V(Different, "null vs empty string", null, "");
        V(Equal, "null = null", null, null);
        V(Different, "null vs int", null, 1);
        V(Different, "int vs string", 1, "1");
        V(Equal, "char = char", 'a', 'a');
        V(Different, "char vs string", 'a', "a");
        V(Different, "char vs int", 'a', 97);
        V(Different, "string vs char[]", "ab", new[] {'a', 'b'});
        V(Equal, "bool = bool", true, true);
        V(Different, "bool != bool", true, false);
        V(Different, "bool vs int", true, 1);
        V(Equal, "enum = enum", DayOfWeek.Monday, DayOfWeek.Monday);
        V(Different, "enum vs int", DayOfWeek.Monday, 1);
        // Lists and arrays: item by item, in order, type-strict.
        V(Equal, "List<int> =", new List<int> {1, 2}, new List<int> {1, 2});
        V(Different, "List<int> order", new List<int> {1, 2}, new List<int> {2, 1});
        V(Different, "List<int> shorter", new List<int> {1, 2}, new List<int> {1});
        V(Different, "List<int> longer", new List<int> {1}, new List<int> {1, 2});
        V(Equal, "List<int> capacity ignored", new List<int>(10) {1, 2}, new List<int> {1, 2});
        V(Different, "List<int> vs int[]", new List<int> {1, 2}, new[] {1, 2});
        V(Equal, "int[] = int[]", new[] {1, 2}, new[] {1, 2});
        V(Different, "int[] != int[]", new[] {1, 2}, new[] {1, 3});
        V(Different, "List<int> vs List<long>", new List<int> {1}, new List<long> {1});
        V(Different, "List<int> vs List<object>", new List<int> {1}, new List<object> {1});
        V(Different, "List<string> vs string[]", new List<string> {"a"}, new[] {"a"});
        V(Different, "List<int> vs Dictionary", new List<int> {1}, new Dictionary<int, int> {{0, 1}});
        V(Different, "List<int> vs string", new List<int> {1}, "1");
        V(Throws, "List<int> vs int", new List<int> {1}, 1);
        V(Equal, "empty lists", new List<int>(), new List<int>());
        V(Different, "empty list vs null", new List<int>(), null);
        V(Different, "null vs empty list", null, new List<int>());
        V(Different, "empty List<int> vs List<object>", new List<int>(), new List<object>());
        V(Different, "empty list vs empty array", new List<int>(), new int[0]);
        V(Equal, "List<string> with null", new List<string> {"a", null}, new List<string> {"a", null});
        V(Different, "List<string> null vs empty", new List<string> {null}, new List<string> {""});
        V(Equal, "List<double> =", new List<double> {1.5, 2}, new List<double> {1.5, 2});
        V(Equal, "List<double> NaN", new List<double> {double.NaN}, new List<double> {double.NaN});
        V(Different, "List<double> !=", new List<double> {1.5}, new List<double> {1.5000001});
        V(Equal, "List<List<int>> =", new List<List<int>> {new List<int> {1}, new List<int> {2, 3}},
          new List<List<int>> {new List<int> {1}, new List<int> {2, 3}});
        V(Different, "List<List<int>> inner order", new List<List<int>> {new List<int> {2, 3}},
          new List<List<int>> {new List<int> {3, 2}});
        V(Different, "List<List<int>> inner shorter", new List<List<int>> {new List<int> {2, 3}},
          new List<List<int>> {new List<int> {2}});
        V(Different, "List<List<int>> [[]] vs []", new List<List<int>> {new List<int>()}, new List<List<int>>());
        V(Different, "List<List<int>> null vs []", new List<List<int>> {null}, new List<List<int>> {new List<int>()});
        V(Equal, "jagged arrays", new[] {new[] {1}}, new[] {new[] {1}});
        V(Different, "jagged arrays !=", new[] {new[] {1}}, new[] {new[] {2}});
        V(Equal, "2-D arrays", new[,] {{1, 2}}, new[,] {{1, 2}});
        V(Different, "2-D arrays !=", new[,] {{1, 2}}, new[,] {{1, 3}});
        V(Equal, "IList<int>", (IList<int>)new List<int> {1}, (IList<int>)new List<int> {1});
        V(Equal, "ArrayList", new ArrayList {1}, new ArrayList {1});
        V(Different, "ArrayList int vs long", new ArrayList {1}, new ArrayList {1L});
        V(Different, "Stack order", new Stack<int>(new[] {1, 2}), new Stack<int>(new[] {2, 1}));
        V(Different, "Queue order", new Queue<int>(new[] {1, 2}), new Queue<int>(new[] {2, 1}));
        // LINQ iterators: compared as sequences when of the same runtime type.
        V(Equal, "Select = Select", new List<int> {1, 2}.Select(x => x), new List<int> {1, 2}.Select(x => x));
        V(Different, "Select != Select", new List<int> {1, 2}.Select(x => x), new List<int> {1, 3}.Select(x => x));
        V(Different, "Select vs List", new List<int> {1, 2}.Select(x => x), new List<int> {1, 2});
        V(Different, "Where vs Select", new List<int> {1, 2}.Where(x => true), new List<int> {1, 2}.Select(x => x));
        // List<object>: the runtime type of every item counts (MBCSP/240).
        V(Equal, "List<object> mixed =", new List<object> {1, "a", 2.5, true, null}, new List<object> {1, "a", 2.5, true, null});
        V(Different, "List<object> int vs long", new List<object> {1, 2.5}, new List<object> {1L, 2.5});
        V(Different, "List<object> int vs double", new List<object> {1, 2}, new List<object> {1, 2.0});
        V(Different, "List<object> double vs float", new List<object> {1.0}, new List<object> {1.0f});
        V(Different, "List<object> int vs string", new List<object> {1}, new List<object> {"1"});
        V(Different, "List<object> char vs string", new List<object> {'a'}, new List<object> {"a"});
        V(Different, "List<object> null vs int", new List<object> {null}, new List<object> {1});
        V(Equal, "List<object> nested List<int>", new List<object> {new List<int> {1}}, new List<object> {new List<int> {1}});
        V(Different, "List<object> List<int> vs List<long>", new List<object> {new List<int> {1}}, new List<object> {new List<long> {1}});
        V(Different, "List<object> List<int> vs List<object>", new List<object> {new List<int> {1}}, new List<object> {new List<object> {1}});
        V(Different, "List<object> List<int> vs int[]", new List<object> {new List<int> {1}}, new List<object> {new[] {1}});
        V(Equal, "object[] =", new object[] {1, "a"}, new object[] {1, "a"});
        V(Different, "object[] int vs long", new object[] {1, "a"}, new object[] {1L, "a"});
        // Dictionaries: simple keys matched by key (order free), other keys pairwise in order.
        V(Equal, "Dictionary =", new Dictionary<string, int> {{"a", 1}, {"b", 2}}, new Dictionary<string, int> {{"a", 1}, {"b", 2}});
        V(Equal, "Dictionary string keys order", new Dictionary<string, int> {{"c", 3}, {"a", 1}, {"b", 2}},
          new Dictionary<string, int> {{"b", 2}, {"c", 3}, {"a", 1}});
        V(Equal, "Dictionary int keys order", new Dictionary<int, int> {{1, 1}, {2, 2}}, new Dictionary<int, int> {{2, 2}, {1, 1}});
        V(Equal, "Dictionary after remove and add", Reinserted(), new Dictionary<string, int> {{"a", 1}, {"c", 3}});
        V(Different, "Dictionary value", new Dictionary<string, int> {{"a", 1}}, new Dictionary<string, int> {{"a", 2}});
        V(Different, "Dictionary key", new Dictionary<string, int> {{"a", 1}, {"b", 2}}, new Dictionary<string, int> {{"a", 1}, {"c", 2}});
        V(Different, "Dictionary values swapped", new Dictionary<string, int> {{"a", 1}, {"b", 2}}, new Dictionary<string, int> {{"b", 1}, {"a", 2}});
        V(Different, "Dictionary count", new Dictionary<string, int> {{"a", 1}}, new Dictionary<string, int> {{"a", 1}, {"b", 2}});
        V(Different, "Dictionary value int vs long", new Dictionary<string, object> {{"a", 1}}, new Dictionary<string, object> {{"a", 1L}});
        V(Different, "Dictionary<string,int> vs <string,long>", new Dictionary<string, int> {{"a", 1}}, new Dictionary<string, long> {{"a", 1}});
        V(Different, "Dictionary vs SortedDictionary", new Dictionary<string, int> {{"a", 1}}, new SortedDictionary<string, int> {{"a", 1}});
        V(Equal, "empty Dictionaries", new Dictionary<int, int>(), new Dictionary<int, int>());
        V(Different, "Dictionary<object,int> key int vs long", new Dictionary<object, int> {{1, 1}}, new Dictionary<object, int> {{1L, 1}});
        V(Equal, "Dictionary<object,int> mixed simple keys order", new Dictionary<object, int> {{"a", 1}, {2, 2}},
          new Dictionary<object, int> {{2, 2}, {"a", 1}});
        V(Equal, "Dictionary List<int> values", new Dictionary<int, List<int>> {{1, new List<int> {1}}}, new Dictionary<int, List<int>> {{1, new List<int> {1}}});
        V(Different, "Dictionary List<int> values !=", new Dictionary<int, List<int>> {{1, new List<int> {1}}}, new Dictionary<int, List<int>> {{1, new List<int> {2}}});
        V(Equal, "Dictionary nested, inner order", new Dictionary<string, Dictionary<string, int>> {{"x", new Dictionary<string, int> {{"a", 1}, {"b", 2}}}},
          new Dictionary<string, Dictionary<string, int>> {{"x", new Dictionary<string, int> {{"b", 2}, {"a", 1}}}});
        V(Equal, "Dictionary List<int> keys", new Dictionary<List<int>, int> {{new List<int> {1}, 1}}, new Dictionary<List<int>, int> {{new List<int> {1}, 1}});
        V(Different, "Dictionary List<int> keys !=", new Dictionary<List<int>, int> {{new List<int> {1}, 1}}, new Dictionary<List<int>, int> {{new List<int> {2}, 1}});
        V(Different, "Dictionary List<int> keys order", new Dictionary<List<int>, int> {{new List<int> {1}, 1}, {new List<int> {2}, 2}},
          new Dictionary<List<int>, int> {{new List<int> {2}, 2}, {new List<int> {1}, 1}});
        V(Different, "Dictionary tuple keys order", new Dictionary<Tuple<int, int>, int> {{Tuple.Create(1, 1), 1}, {Tuple.Create(2, 2), 2}},
          new Dictionary<Tuple<int, int>, int> {{Tuple.Create(2, 2), 2}, {Tuple.Create(1, 1), 1}});
        var k = new Key(1);
        V(Different, "Dictionary object keys order, same key objects", new Dictionary<Key, int> {{k, 1}, {new Key(2), 2}},
          new Dictionary<Key, int> {{new Key(2), 2}, {k, 1}});
        // Which rule applies follows the first key of the actual dictionary:
        V(Equal, "Dictionary<object,int> simple key first", new Dictionary<object, int> {{"a", 1}, {k, 2}}, new Dictionary<object, int> {{k, 2}, {"a", 1}});
        V(Different, "Dictionary<object,int> object key first", new Dictionary<object, int> {{k, 2}, {"a", 1}}, new Dictionary<object, int> {{"a", 1}, {k, 2}});
        V(Different, "Dictionary<object,int> simple first, object key by reference", new Dictionary<object, int> {{"a", 1}, {new Key(1), 2}},
          new Dictionary<object, int> {{"a", 1}, {new Key(1), 2}});
        V(Equal, "Hashtable order", new Hashtable {{"a", 1}, {"b", 2}}, new Hashtable {{"b", 2}, {"a", 1}});
        V(Equal, "List<Dictionary<string,object>> =", new List<Dictionary<string, object>> {new Dictionary<string, object> {{"a", 1}}},
          new List<Dictionary<string, object>> {new Dictionary<string, object> {{"a", 1}}});
        V(Different, "List<Dictionary<string,object>> int vs string", new List<Dictionary<string, object>> {new Dictionary<string, object> {{"a", 1}}},
          new List<Dictionary<string, object>> {new Dictionary<string, object> {{"a", "1"}}});
        // Sets: in enumeration order too.
        V(Equal, "HashSet =", new HashSet<int> {1, 2}, new HashSet<int> {1, 2});
        V(Different, "HashSet order", new HashSet<int> {1, 2}, new HashSet<int> {2, 1});
        V(Different, "HashSet<string> order", new HashSet<string> {"a", "b"}, new HashSet<string> {"b", "a"});
        V(Different, "HashSet !=", new HashSet<int> {1, 2}, new HashSet<int> {1, 3});
        V(Different, "HashSet count", new HashSet<int> {1, 2}, new HashSet<int> {1});
        V(Different, "HashSet vs List", new HashSet<int> {1, 2}, new List<int> {1, 2});
        V(Equal, "HashSet<List<int>> =", new HashSet<List<int>> {new List<int> {1}}, new HashSet<List<int>> {new List<int> {1}});
        V(Different, "HashSet<List<int>> order", new HashSet<List<int>> {new List<int> {1}, new List<int> {2}},
          new HashSet<List<int>> {new List<int> {2}, new List<int> {1}});
        V(Equal, "SortedSet insertion order", new SortedSet<int> {2, 1}, new SortedSet<int> {1, 2});
        // Tuples.
        V(Equal, "Tuple =", Tuple.Create(1, "x"), Tuple.Create(1, "x"));
        V(Different, "Tuple !=", Tuple.Create(1, "x"), Tuple.Create(1, "y"));
        V(Different, "Tuple<int> vs Tuple<long>", Tuple.Create(1, "x"), Tuple.Create(1L, "x"));
        V(Equal, "ValueTuple =", (1, "x"), (1, "x"));
        V(Different, "ValueTuple !=", (1, "x"), (2, "x"));
        V(Different, "ValueTuple int vs long", (1, 2), (1L, 2));
        V(Different, "ValueTuple arity", (1, 2), (1, 2, 3));
        V(Throws, "Tuple vs ValueTuple", Tuple.Create(1, "x"), (1, "x"));
        V(Throws, "ValueTuple vs int", (1, 2), 1);
        V(Throws, "List<object> ValueTuple vs Tuple", new List<object> {(1, 2)}, new List<object> {Tuple.Create(1, 2)});
        V(Equal, "Tuple with list", Tuple.Create(1, new List<int> {1}), Tuple.Create(1, new List<int> {1}));
        V(Different, "Tuple with list !=", Tuple.Create(1, new List<int> {1}), Tuple.Create(1, new List<int> {2}));
        V(Different, "ValueTuple with list !=", (1, new List<int> {1}), (1, new List<int> {2}));
        V(Equal, "List<ValueTuple> =", new List<(int, int)> {(1, 2)}, new List<(int, int)> {(1, 2)});
        V(Different, "List<ValueTuple> !=", new List<(int, int)> {(1, 2)}, new List<(int, int)> {(1, 3)});
        V(Different, "List<Tuple> !=", new List<Tuple<int, int>> {Tuple.Create(1, 2)}, new List<Tuple<int, int>> {Tuple.Create(1, 3)});
        V(Equal, "KeyValuePair =", new KeyValuePair<int, int>(1, 2), new KeyValuePair<int, int>(1, 2));
        V(Different, "KeyValuePair !=", new KeyValuePair<int, int>(1, 2), new KeyValuePair<int, int>(1, 3));
        // Objects: public fields and properties.
        V(Equal, "object =", new Point {X = 1, Y = 2}, new Point {X = 1, Y = 2});
        V(Different, "object field", new Point {X = 1, Y = 2}, new Point {X = 3, Y = 2});
        V(Different, "object property", new Point {X = 1, Y = 2}, new Point {X = 1, Y = 3});
        V(Equal, "private field ignored", new Named("a", 1), new Named("a", 2));
        V(Different, "string property", new Named("a", 1), new Named("b", 1));
        V(Equal, "struct =", new Pair {A = 1, B = 2}, new Pair {A = 1, B = 2});
        V(Different, "struct !=", new Pair {A = 1, B = 2}, new Pair {A = 1, B = 3});
        V(Equal, "no members", new Empty(), new Empty());
        V(Equal, "plain object", new object(), new object());
        V(Different, "different classes", new Empty(), new Point());
        V(Different, "base vs derived", new Base {A = 1}, new Derived {A = 1});
        V(Equal, "anonymous =", new {a = 1}, new {a = 1});
        V(Different, "anonymous !=", new {a = 1}, new {a = 2});
        V(Equal, "Type", typeof(int), typeof(int));
        V(Different, "Type !=", typeof(int), typeof(long));
        V(Throws, "object with indexer", new Indexed(), new Indexed());
        // A user-defined collection's own public properties (the stand-in compares only items):
        V(Different, "List subclass extra property", new ListPlus {Extra = 5}, new ListPlus());
    }
}
