// A small stand-in for the CompareLogic API of the KellermanSoftware.CompareNetObjects library
// (CompareNETObjects 4.77, which mxeval's C# tests use but which is not packaged for Debian).
// Written for this project from the behaviour observed with the real library under Mono at its
// default settings (tests/csharp_compare_battery.cs records each observed verdict, and a test
// runs that battery against the real DLL when mxeval's copy is at hand):
// - Type-strict everywhere: values of different runtime types are different (1 vs 1L, 1 vs 1.0,
//   List<int> vs int[], List<int> vs List<object>, Tuple vs ValueTuple), also inside collections,
//   so a List<object> holding 1L where 1 is expected fails as it does under mxeval.
// - Simple values (primitives, enums, strings, decimal, date/time, Guid) compare with Equals:
//   doubles exactly, NaN equal to NaN, 0.0 equal to -0.0, 1.50m equal to 1.5m, "" not null.
// - Sequences (lists, arrays, sets, LINQ iterators) compare item by item in enumeration order,
//   HashSet included; null is not an empty list.
// - Dictionaries: when the first key of the first (actual) dictionary is a simple value, entries
//   are matched by key and order does not matter; otherwise (list, tuple or object keys) keys and
//   values are compared pairwise in enumeration order.
// - Other objects: by their public instance fields and properties (private ones are ignored).
// Remaining differences, all outside what mxeval's tests compare (checked by the battery test):
// where the real library throws (NotSupportedException for pairs of kinds it has no comparer
// for, such as List<int> vs int or Tuple vs ValueTuple; objects with an indexer that are not
// collections) ours answers "different", and the test fails either way; public properties that
// a user-defined collection class adds to its items are not compared.
using System;
using System.Collections;
using System.Reflection;

namespace KellermanSoftware.CompareNetObjects
{
    public class ComparisonResult
    {
        public bool AreEqual { get; set; }
        public string DifferencesString { get { return AreEqual ? "" : "The objects differ."; } }
    }

    public class CompareLogic
    {
        // mxeval's tests call Compare(actual, expected).
        public ComparisonResult Compare(object object1, object object2)
        {
            return new ComparisonResult { AreEqual = Same(object1, object2) };
        }

        static bool IsSimple(Type t)
        {
            return t.IsPrimitive || t.IsEnum || t == typeof(string) || t == typeof(decimal)
                || t == typeof(DateTime) || t == typeof(DateTimeOffset) || t == typeof(TimeSpan)
                || t == typeof(Guid);
        }

        static bool Same(object a, object b)
        {
            if (ReferenceEquals(a, b)) return true;
            if (a == null || b == null) return false;
            var type = a.GetType();
            if (type != b.GetType()) return false;
            if (IsSimple(type)) return a.Equals(b);
            if (a is IDictionary) return SameDictionary((IDictionary)a, (IDictionary)b);
            if (a is IEnumerable) return SameSequence((IEnumerable)a, (IEnumerable)b);
            var flags = BindingFlags.Public | BindingFlags.Instance;
            foreach (var f in type.GetFields(flags))
            {
                if (!Same(f.GetValue(a), f.GetValue(b))) return false;
            }
            foreach (var p in type.GetProperties(flags))
            {
                // The real library throws on an indexer outside a collection: never "equal".
                if (p.GetIndexParameters().Length > 0) return false;
                if (!Same(p.GetValue(a, null), p.GetValue(b, null))) return false;
            }
            return true;
        }

        static bool SameSequence(IEnumerable a, IEnumerable b)
        {
            var ea = a.GetEnumerator();
            var eb = b.GetEnumerator();
            while (true)
            {
                bool ma = ea.MoveNext(), mb = eb.MoveNext();
                if (ma != mb) return false;
                if (!ma) return true;
                if (!Same(ea.Current, eb.Current)) return false;
            }
        }

        static bool SameDictionary(IDictionary a, IDictionary b)
        {
            if (a.Count != b.Count) return false;
            var first = a.Keys.GetEnumerator();
            if (!first.MoveNext()) return true;
            if (!IsSimple(first.Current.GetType()))
                return SameSequence(a, b);  // entries (KeyValuePair, DictionaryEntry) pairwise
            foreach (DictionaryEntry e in a)
            {
                if (!b.Contains(e.Key) || !Same(e.Value, b[e.Key])) return false;
            }
            return true;
        }
    }
}
