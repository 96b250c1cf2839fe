// .NET 6 LINQ overloads that mxeval's C# tests and solutions use but Mono's System.Core lacks
// (mxeval builds with dotnet 6; Debian packages only Mono). Compiled into the test support
// library, which every program references; `using System.Linq;` brings them into scope.
using System.Collections.Generic;

namespace System.Linq
{
    public static class Net6LinqCompat
    {
        public static T FirstOrDefault<T>(this IEnumerable<T> source, T defaultValue)
        {
            foreach (var item in source) return item;
            return defaultValue;
        }

        public static T FirstOrDefault<T>(this IEnumerable<T> source, Func<T, bool> predicate,
                                          T defaultValue)
        {
            foreach (var item in source) if (predicate(item)) return item;
            return defaultValue;
        }

        public static T LastOrDefault<T>(this IEnumerable<T> source, T defaultValue)
        {
            var found = false;
            var last = defaultValue;
            foreach (var item in source) { last = item; found = true; }
            return found ? last : defaultValue;
        }

        public static T SingleOrDefault<T>(this IEnumerable<T> source, T defaultValue)
        {
            using (var e = source.GetEnumerator())
            {
                if (!e.MoveNext()) return defaultValue;
                var single = e.Current;
                if (e.MoveNext())
                    throw new InvalidOperationException("Sequence contains more than one element");
                return single;
            }
        }
    }
}
